import Glibc

/// A failed system call: the call's name and its `errno`.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The system call or operation that failed, e.g. `"bind"`.
    public let call: String
    /// The `errno` value it reported.
    public let code: Int32

    public init(_ call: String, code: Int32 = errno) {
        self.call = call
        self.code = code
    }

    public var description: String {
        "\(call): \(String(cString: strerror(code))) (errno \(code))"
    }
}

/// Runs a system call that returns -1 on failure, retrying on EINTR.
@inlinable
func retryingEINTR<T: BinaryInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result >= 0 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(call, code: code)
    }
}
