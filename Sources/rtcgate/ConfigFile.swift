/// One `key = value` setting read from a configuration file or a command-line flag.
struct ConfigEntry: Equatable {
    var key: String
    var value: String
    /// Where it came from, for error messages: `file:line` or `--flag`.
    var origin: String
}

/// A configuration problem, with where it was found.
struct ConfigError: Error, CustomStringConvertible, Equatable {
    var origin: String
    var message: String
    var description: String { "\(origin): \(message)" }
}

/// Reads coturn/mosquitto-style configuration text: one setting per line as `key=value`,
/// `key = value` or `key value`; a bare `key` is a boolean switch; `#` starts a comment;
/// a key may repeat where the option is a list (e.g. `listening-ip`).
enum ConfigFile {
    static func parse(_ text: String, origin: String) throws(ConfigError) -> [ConfigEntry] {
        var entries: [ConfigEntry] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            line = line.drop { $0 == " " || $0 == "\t" || $0 == "\r" }
            while let last = line.last, last == " " || last == "\t" || last == "\r" { line = line.dropLast() }
            if line.isEmpty { continue }
            let place = "\(origin):\(lineNumber)"
            let key: Substring
            var value: Substring
            if let equals = line.firstIndex(of: "=") {
                key = line[..<equals]
                value = line[line.index(after: equals)...]
            } else if let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) {
                key = line[..<space]
                value = line[space...]
            } else {
                key = line
                value = "true"
            }
            let trimmedKey = key.trimmingCharacters(in: " \t").lowercased()
            value = Substring(value.trimmingCharacters(in: " \t"))
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = value.dropFirst().dropLast() }
            guard !trimmedKey.isEmpty, trimmedKey.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw ConfigError(origin: place, message: "cannot read this line as 'key = value'")
            }
            entries.append(ConfigEntry(key: trimmedKey.replacingOccurrences(of: "_", with: "-"), value: String(value), origin: place))
        }
        return entries
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }

    func replacingOccurrences(of target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
