/// One `key = value` setting read from a configuration file or a command-line flag.
package struct ConfigEntry: Equatable {
    package var key: String
    package var value: String
    /// Where it came from, for error messages: `file:line` or `--flag`.
    package var origin: String
}

/// A configuration problem, with where it was found.
package struct ConfigError: Error, CustomStringConvertible, Equatable {
    package var origin: String
    package var message: String

    package init(origin: String, message: String) {
        self.origin = origin
        self.message = message
    }

    package var description: String { "\(origin): \(message)" }
}

/// Reads coturn/mosquitto-style configuration text: one setting per line as `key=value`,
/// `key = value` or `key value`; a bare `key` is a boolean switch; `#` starts a comment;
/// a key may repeat where the option is a list (e.g. `listening-ip`). Keys are ASCII and
/// case-insensitive, `_` and `-` alike; values are kept as written (UTF-8), without quotes.
/// A `#` inside double quotes is part of the value (`static-auth-secret = "ab#cd"`); a quote
/// left open is an error.
/// Works on UTF-8 bytes: the syntax is ASCII, so no grapheme-aware processing is needed.
package enum ConfigFile {
    private static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t"), cr = UInt8(ascii: "\r")
    private static let quote = UInt8(ascii: "\"")

    package static func parse(_ text: String, origin: String) throws(ConfigError) -> [ConfigEntry] {
        var entries: [ConfigEntry] = []
        var lineNumber = 0
        for rawLine in Array(text.utf8).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = rawLine[...]
            let place = "\(origin):\(lineNumber)"
            guard let end = contentEnd(line) else {
                throw ConfigError(origin: place, message: "a double quote is not closed (a quoted value may hold '#')")
            }
            line = trimmed(line[..<end])
            if line.isEmpty { continue }
            let key: ArraySlice<UInt8>
            var value: ArraySlice<UInt8>
            if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
                key = trimmed(line[..<equals])
                value = trimmed(line[(equals + 1)...])
            } else if let gap = line.firstIndex(where: { $0 == space || $0 == tab }) {
                key = line[..<gap]
                value = trimmed(line[gap...])
            } else {
                key = line
                value = Array("true".utf8)[...]
            }
            if value.count >= 2, value.first == quote, value.last == quote { value = value.dropFirst().dropLast() }
            guard let normalizedKey = normalizedKey(key) else {
                throw ConfigError(origin: place, message: "cannot read this line as 'key = value'")
            }
            entries.append(ConfigEntry(key: normalizedKey, value: String(decoding: value, as: UTF8.self), origin: place))
        }
        return entries
    }

    /// Lower-case ASCII letters, digits and `-` (with `_` read as `-`); nil for anything else.
    package static func normalizedKey<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String? {
        guard !bytes.isEmpty else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                out.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                out.append(byte + 32)
            case UInt8(ascii: "_"):
                out.append(UInt8(ascii: "-"))
            default:
                return nil
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Where the setting ends: at the first `#` outside double quotes (a comment), else at the
    /// end of the line; nil when a double quote is left open.
    private static func contentEnd(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8>.Index? {
        // A quote opens only where a value starts (after `=`, a space or a tab), so a stray `"`
        // inside an unquoted value (`user = bob:pa"ss`) stays part of it.
        var quoted = false
        var previous: UInt8 = space
        for index in line.indices {
            let byte = line[index]
            if byte == quote && (quoted || previous == UInt8(ascii: "=") || previous == space || previous == tab) {
                quoted.toggle()
            } else if byte == UInt8(ascii: "#") && !quoted {
                return index
            }
            previous = byte
        }
        return quoted ? nil : line.endIndex
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == space || first == tab || first == cr { slice = slice.dropFirst() }
        while let last = slice.last, last == space || last == tab || last == cr { slice = slice.dropLast() }
        return slice
    }
}

extension String {
    /// ASCII-only lower-casing (option values such as log levels and booleans are ASCII words).
    package var asciiLowercased: String {
        String(decoding: utf8.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)
    }
}
