import STUN
import XCTest

@testable import TURN

final class RelayFramingTests: XCTestCase {
    /// A buffer with `headroom` bytes before and 8 after `payload`, like a pool slot.
    private func slot(_ payload: [UInt8], headroom: Int = 64, body: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: headroom + payload.count + 8, alignment: 8)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0xAA)
        let data = UnsafeMutableRawBufferPointer(rebasing: buffer[headroom..<(headroom + payload.count)])
        data.copyBytes(from: payload)
        try body(data)
    }

    func testChannelDataWrapAndParse() {
        for (length, padded) in [(0, true), (5, true), (5, false), (8, true), (1200, true)] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
            slot(payload) { data in
                let message = ChannelData.wrapInPlace(data, channel: 0x4001, padded: padded)
                XCTAssertEqual(message.baseAddress, data.baseAddress! - 4, "header written in the headroom")
                XCTAssertEqual(message.count, 4 + length + (padded ? (4 - length % 4) % 4 : 0))
                let parsed = ChannelData.parse(UnsafeRawBufferPointer(message))
                XCTAssertEqual(parsed?.channel, 0x4001)
                XCTAssertEqual(parsed.map { Array($0.data) }, payload)
            }
        }
    }

    func testChannelDataRejectsBadInput() {
        let cases: [[UInt8]] = [[0x40, 0x00, 0x00], [0x3F, 0xFF, 0, 0], [0x80, 0x00, 0, 0], [0x40, 0x00, 0x00, 0x05, 1, 2, 3]]
        for bytes in cases { XCTAssertNil(bytes.withUnsafeBytes { ChannelData.parse($0) }, "\(bytes)") }
        XCTAssertEqual(([0x7F, 0xFF, 0x00, 0x01, 9, 0, 0, 0] as [UInt8]).withUnsafeBytes { ChannelData.parse($0)?.channel }, 0x7FFF,
                       "UDP padding is accepted")
    }

    func testDataIndicationIsAValidStunMessageAroundTheData() throws {
        for peer in [TransportAddress(ip: IPAddress("192.0.2.1")!, port: 40_000),
                     TransportAddress(ip: IPAddress("2001:db8::5")!, port: 40_001)] {
            for length in [1, 4, 7, 172] {
                let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
                try slot(payload) { data in
                    let id = TransactionID(high: 9, low: 9)
                    let message = try XCTUnwrap(DataIndication.wrapInPlace(data, from: peer, transactionID: id))
                    XCTAssertEqual(message.baseAddress, data.baseAddress! - DataIndication.headroom(for: peer))
                    let view = try StunMessageView(UnsafeRawBufferPointer(message))
                    XCTAssertEqual(view.type, StunMessageType(method: .data, messageClass: .indication))
                    XCTAssertEqual(view.transactionID, id)
                    XCTAssertEqual(view.xorAddress(.xorPeerAddress), peer)
                    XCTAssertEqual(view.attribute(.data).map(Array.init), payload)
                }
            }
        }
    }
}
