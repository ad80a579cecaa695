import Glibc

/// Where a configuration comes from: an optional board profile, an optional file, and flags.
/// Kept so SIGHUP can read the same sources again.
package struct ConfigSources {
    package var board: String?
    package var configFile: String?
    package var flags: [String]

    package init(board: String?, configFile: String?, flags: [String]) {
        self.board = board
        self.configFile = configFile
        self.flags = flags
    }

    /// Reads all sources in order (board, file, flags) into a configuration.
    package func load() throws(ConfigError) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        if let board {
            let path = try Self.resolveBoard(board)
            try configuration.apply(ConfigFile.parse(try Self.readFile(path), origin: path))
        }
        if let configFile {
            try configuration.apply(ConfigFile.parse(try Self.readFile(configFile), origin: configFile))
        }
        try configuration.apply(ConfigOption.entries(fromArguments: flags))
        return configuration
    }

    /// A board given as a path (file, or folder holding `profile.conf`) or as a name looked up in
    /// `./board/NAME/`, `<prefix>/share/rtcgate/board/NAME/` and `/usr/share/rtcgate/board/NAME/`.
    package static func resolveBoard(_ board: String) throws(ConfigError) -> String {
        var candidates: [String] = []
        if board.utf8.contains(UInt8(ascii: "/")) || board.hasSuffix(".conf") {
            candidates = [board, board + "/profile.conf"]
        } else {
            let executableDirectory = Self.executableDirectory()
            candidates = ["board/\(board)/profile.conf",
                          "\(executableDirectory)/../share/rtcgate/board/\(board)/profile.conf",
                          "/usr/share/rtcgate/board/\(board)/profile.conf"]
        }
        for candidate in candidates where isRegularFile(candidate) { return candidate }
        throw ConfigError(origin: "--board", message: "no board profile '\(board)' (looked in \(candidates.joined(separator: ", ")))")
    }

    package static func isRegularFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFREG
    }

    package static func executableDirectory() -> String {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return "." }
        guard let slash = buffer[0..<n].lastIndex(of: UInt8(ascii: "/")) else { return "." }
        return String(decoding: buffer[0..<slash], as: UTF8.self)
    }

    /// Reads a whole text file (at most 1 MiB: a configuration, not a data set).
    package static func readFile(_ path: String) throws(ConfigError) -> String {
        guard let file = fopen(path, "r") else {
            throw ConfigError(origin: path, message: "cannot open: \(String(cString: strerror(errno)))")
        }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if bytes.count > 1 << 20 { throw ConfigError(origin: path, message: "larger than 1 MiB") }
            if n < chunk.count { break }
        }
        if ferror(file) != 0 { throw ConfigError(origin: path, message: "read error") }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(origin: path, message: "not UTF-8 text")
        }
        return text
    }
}
