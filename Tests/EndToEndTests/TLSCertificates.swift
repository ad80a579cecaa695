import Foundation
import TestSupport

/// A throwaway CA and a server certificate it signed, made with the `openssl` command for one
/// test: `ca.pem`, `server.pem` (leaf then CA: a chain), `server.key`.
struct TLSCertificates {
    let directory: TemporaryDirectory
    var caPath: String { directory.file("ca.pem") }
    var certificatePath: String { directory.file("server.pem") }
    var keyPath: String { directory.file("server.key") }

    /// - Parameters:
    ///   - rsa: an RSA 2048 key instead of ECDSA P-256.
    ///   - days: the leaf's validity.
    ///   - names: subjectAltName entries (`IP:…`, `DNS:…`).
    init(rsa: Bool = false, days: Int = 30, commonName: String = "rtcgate test",
         names: [String] = ["IP:127.0.0.1", "DNS:localhost"]) throws {
        directory = TemporaryDirectory(prefix: "rtcgate-tls")
        let key = rsa ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        try Self.openssl(["req", "-x509", "-nodes", "-days", "60", "-subj", "/CN=rtcgate test CA \(UInt32.random(in: 0...UInt32.max))",
                          "-keyout", directory.file("ca.key"), "-out", directory.file("ca.pem")] + key)
        try Self.openssl(["req", "-nodes", "-subj", "/CN=\(commonName)", "-keyout", directory.file("leaf.key"),
                          "-out", directory.file("server.csr")] + key)
        _ = try directory.write("ext", "subjectAltName=\(names.joined(separator: ","))\nextendedKeyUsage=serverAuth\n")
        try Self.openssl(["x509", "-req", "-in", directory.file("server.csr"), "-CA", directory.file("ca.pem"),
                          "-CAkey", directory.file("ca.key"), "-CAcreateserial", "-days", "\(days)",
                          "-extfile", directory.file("ext"), "-out", directory.file("leaf.pem")])
        let leaf = try String(contentsOfFile: directory.file("leaf.pem"), encoding: .utf8)
        let ca = try String(contentsOfFile: directory.file("ca.pem"), encoding: .utf8)
        _ = try directory.write("server.pem", leaf + ca)
        _ = try directory.write("server.key", try String(contentsOfFile: directory.file("leaf.key"), encoding: .utf8))
    }

    /// Copies this certificate and key over `certificate` and `key` (each replaced atomically).
    func install(certificate: String, key: String) throws {
        for (source, target) in [(certificatePath, certificate), (keyPath, key)] {
            let text = try String(contentsOfFile: source, encoding: .utf8)
            try text.write(toFile: target, atomically: true, encoding: .utf8)
        }
    }

    private static func openssl(_ arguments: [String]) throws {
        let result = try runTool(TestPaths.tool("openssl") ?? "/usr/bin/openssl", arguments, timeout: 30)
        guard result.status == 0 else { throw HarnessError("openssl \(arguments.first ?? ""): \(result.stderr)") }
    }
}
