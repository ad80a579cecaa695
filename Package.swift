// swift-tools-version: 6.1
import PackageDescription

/// Modules off both the packet and the message path (management, the path model's search, the
/// handover's messages, the executable's wiring): release builds them with -Osize for the
/// gateway's flash. Everything a
/// packet or a signaling message goes through (STUN, TURN, Reactor, MediaPlane, TLS, JSON,
/// Signaling, MQTT, Gateway) keeps -O: -Osize there cost signaling several times its CPU.
let sizeOptimized: [SwiftSetting] = [.unsafeFlags(["-Osize"], .when(configuration: .release))]

let package = Package(
    name: "rtcgate",
    products: [
        .executable(name: "rtcgate", targets: ["rtcgate"]),
        .executable(name: "rtcgate-bench", targets: ["rtcgate-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // System-library shims.
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CMosquitto", path: "Sources/CMosquitto", providers: [.apt(["libmosquitto-dev"])]),
        .target(name: "CSystem", path: "Sources/CSystem"),
        .target(name: "CBenchShim", path: "Sources/CBenchShim"),

        // Pure protocol cores.
        .target(name: "STUN", dependencies: ["COpenSSL"]),
        .target(name: "TURN", dependencies: ["STUN", "COpenSSL"]),
        .target(name: "JSON"),
        .target(name: "Paths", swiftSettings: sizeOptimized),
        .target(name: "Signaling", dependencies: ["JSON", "Paths"]),

        // The imperative shell: event loop, pools, sockets.
        .target(name: "Reactor", dependencies: ["CSystem"]),
        .target(name: "TLS", dependencies: ["COpenSSL", "Reactor"]),
        .target(name: "MediaPlane", dependencies: ["STUN", "TURN", "Reactor", "TLS", "CSystem", "Handover"]),
        .target(name: "MQTT", dependencies: ["CMosquitto", "CSystem", "Reactor"]),
        .target(name: "Control", dependencies: ["JSON", "Reactor", "CSystem", "COpenSSL"], swiftSettings: sizeOptimized),
        .target(name: "BrokerAdmin", dependencies: ["JSON", "MQTT", "Reactor", "STUN"], swiftSettings: sizeOptimized),
        .target(name: "Handover", dependencies: ["CSystem", "Reactor"], swiftSettings: sizeOptimized),

        // The daemon's services on the main loop: configuration, management, the signaling
        // shell, cluster replication, metrics and the memory report.
        .target(
            name: "Gateway",
            dependencies: [
                "MediaPlane", "STUN", "TURN", "TLS", "Reactor", "MQTT", "Signaling", "Paths", "Control", "JSON", "BrokerAdmin", "CSystem", "Handover",
                .product(name: "Logging", package: "swift-log"),
            ]),

        // Executables.
        .executableTarget(
            name: "rtcgate",
            dependencies: [
                "Gateway", "MediaPlane", "STUN", "Reactor", "MQTT", "Signaling", "TURN", "TLS", "Control", "JSON", "BrokerAdmin", "Handover", "CSystem",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: sizeOptimized),
        .executableTarget(
            name: "rtcgate-bench",
            dependencies: ["CSystem", "CBenchShim", "COpenSSL", "STUN", "MQTT", "Reactor", "Paths", .product(name: "ArgumentParser", package: "swift-argument-parser")]),

        // Tests.
        .target(name: "MallocCounter", path: "Tests/Support/MallocCounter"),
        .target(name: "BrokerHarness", path: "Tests/Support/BrokerHarness"),
        .target(name: "TestSupport", dependencies: ["Reactor"], path: "Tests/Support/TestSupport"),
        .testTarget(name: "STUNTests", dependencies: ["STUN", "MallocCounter"]),
        .testTarget(name: "TURNTests", dependencies: ["TURN", "STUN", "MallocCounter", "TestSupport"]),
        .testTarget(name: "ReactorTests", dependencies: ["Reactor", "TestSupport"]),
        .testTarget(name: "MediaPlaneTests", dependencies: ["MediaPlane", "MallocCounter", "TestSupport"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "SignalingTests", dependencies: ["Signaling", "JSON", "Paths"]),
        .testTarget(name: "PathsTests", dependencies: ["Paths"]),
        .testTarget(name: "HandoverTests", dependencies: ["Handover", "Reactor"]),
        .testTarget(name: "ControlTests", dependencies: ["Control", "JSON", "Reactor", "TestSupport"]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT", "Reactor", "BrokerHarness", "TestSupport"]),
        .testTarget(name: "BrokerAdminTests", dependencies: ["BrokerAdmin", "MQTT", "Reactor", "JSON", "BrokerHarness", "TestSupport"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "TLS", "Control", "JSON", "Signaling", "Reactor", "MediaPlane", "TURN", "STUN", "MQTT", "TestSupport"]),
        .testTarget(name: "EndToEndTests", dependencies: ["rtcgate", "rtcgate-bench", "STUN", "MQTT", "Reactor", "BrokerHarness", "JSON", "TestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
