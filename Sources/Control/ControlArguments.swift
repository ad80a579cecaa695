import JSON

/// Typed access to a request's `args`, for command handlers. Every accessor throws a
/// `bad-request` failure naming the argument and the expected type.
extension ControlRequest {
    /// Refuses arguments other than `allowed` (so a typo such as `relayonly` is not ignored).
    public func requireOnlyArgs(_ allowed: [String]) throws(ControlFailure) {
        for (key, _) in args.objectValue ?? [] where !allowed.contains(key) {
            let list = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
            throw ControlFailure(.badRequest, "\(command): unknown argument \"\(key)\" (accepted: \(list))")
        }
    }

    /// A required string argument.
    public func string(_ key: String) throws(ControlFailure) -> String {
        guard let value = try optionalString(key) else { throw missing(key, "a string") }
        return value
    }

    /// An optional string argument (absent or `null` give nil).
    public func optionalString(_ key: String) throws(ControlFailure) -> String? {
        guard let value = present(key) else { return nil }
        guard let s = value.stringValue else { throw illTyped(key, "a string") }
        return s
    }

    /// An optional boolean argument.
    public func optionalBool(_ key: String) throws(ControlFailure) -> Bool? {
        guard let value = present(key) else { return nil }
        guard let b = value.boolValue else { throw illTyped(key, "true or false") }
        return b
    }

    /// An optional integer argument within `range`.
    public func optionalInt(_ key: String, in range: ClosedRange<Int> = Int.min...Int.max) throws(ControlFailure) -> Int? {
        guard let value = present(key) else { return nil }
        guard let n = value.numberValue, let i = Int(n.text), range.contains(i) else {
            throw illTyped(key, "an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return i
    }

    /// An optional array of strings.
    public func optionalStringArray(_ key: String) throws(ControlFailure) -> [String]? {
        guard let value = present(key) else { return nil }
        guard let elements = value.arrayValue else { throw illTyped(key, "an array of strings") }
        var strings: [String] = []
        for element in elements {
            guard let s = element.stringValue else { throw illTyped(key, "an array of strings") }
            strings.append(s)
        }
        return strings
    }

    private func present(_ key: String) -> JSONValue? {
        guard let value = args[key], !value.isNull else { return nil }
        return value
    }

    private func missing(_ key: String, _ type: String) -> ControlFailure {
        ControlFailure(.badRequest, "\(command): missing argument \"\(key)\" (\(type))")
    }

    private func illTyped(_ key: String, _ type: String) -> ControlFailure {
        ControlFailure(.badRequest, "\(command): argument \"\(key)\" must be \(type)")
    }
}
