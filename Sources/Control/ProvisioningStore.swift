import Glibc
import Reactor
import JSON

/// The provisioning state and its file, `provisioning.json` in a state directory that this store
/// holds an exclusive lock on (`directory/lock`, holding the owner's pid).
///
/// Loading refuses, and never overwrites, a file that does not parse, has another `format`, a
/// newer `version` or an invalid record. `update` applies a change to a copy, validates it, writes
/// it atomically (temporary file, fsync, rename, directory fsync) and only then adopts it, so
/// memory and disk agree after every call, failed or not.
public final class ProvisioningStore {
    /// The file name inside the state directory.
    public static let fileName = "provisioning.json"
    /// Largest file accepted on load.
    public static let maxFileBytes = 16 * 1024 * 1024

    public let directory: String
    /// `directory/provisioning.json`.
    public let filePath: String
    /// The current state: always what the file on disk holds (or empty before the first write).
    public private(set) var state: ProvisioningState
    /// Makes the next writes fail at one step (tests only).
    var failingWrite: (step: AtomicFile.Step, errno: Int32)?

    private let lockFD: Int32

    /// Locks `directory` (creating it, mode 0700, if missing), removes temporary files a crashed
    /// run left behind, and loads the file (none yet gives an empty state).
    public init(directory: String) throws(ProvisioningError) {
        self.directory = directory
        filePath = directory + "/" + Self.fileName
        try Self.createDirectory(directory)
        if let inherited = InheritedSockets.take(.lockFile, directory + "/lock") {
            // The lock of the process this one replaces (docs/handover.md): flock belongs to the
            // open file, so holding its descriptor is holding the lock. Our pid goes into it.
            lockFD = inherited
            let pid = Array("\(getpid())\n".utf8)
            _ = pid.withUnsafeBytes { pwrite(inherited, $0.baseAddress, $0.count, 0) }
            _ = ftruncate(inherited, off_t(pid.count))
        } else {
            lockFD = try Self.lock(directory)
        }
        do throws(ProvisioningError) {
            Self.removeLeftoverTemporaryFiles(in: directory)
            state = try Self.load(filePath)
        } catch {
            close(lockFD)
            throw error
        }
    }

    /// The last failure to fsync the state directory after a rename (the change was adopted).
    public private(set) var lastDirectorySyncError: ProvisioningError?

    deinit { close(lockFD) }

    /// The lock file's descriptor, handed to the successor in a handover (still owned here).
    public var lockDescriptor: Int32 { lockFD }

    /// Applies `change` to a copy of the state, validates it, bumps `revision`, writes the file
    /// atomically and then adopts the copy. On any error nothing changes, in memory or on disk.
    /// Returns what `change` returns.
    @discardableResult
    public func update<T>(_ change: (inout ProvisioningState) throws(ProvisioningError) -> T) throws(ProvisioningError) -> T {
        var copy = state
        let result = try change(&copy)
        try copy.validate()
        copy.revision += 1
        do {
            try AtomicFile.write(copy.fileBytes(), to: filePath, mode: 0o600, failing: failingWrite)
        } catch ProvisioningError.io(let operation, let path, let code) where operation == "fsync of directory" || operation == "opening directory" {
            // The new file is already renamed into place: it is what a restart reads, so memory
            // follows it (refusing here would make the next change silently revert this one).
            // Only the rename's durability across a power loss is in doubt.
            state = copy
            lastDirectorySyncError = ProvisioningError.io(operation: operation, path: path, errno: code)
            return result
        }
        state = copy
        return result
    }

    /// Reads and checks the file at `path`; nil-file gives an empty state.
    static func load(_ path: String) throws(ProvisioningError) -> ProvisioningState {
        guard let bytes = try AtomicFile.read(path, limit: maxFileBytes) else { return ProvisioningState() }
        let value: JSONValue
        do throws(JSONParseError) {
            value = try JSONParser.parse(bytes, maxDepth: 8)
        } catch {
            throw .refusedFile(path: path, reason: "not valid JSON (\(error))")
        }
        do throws(ProvisioningError) {
            return try ProvisioningState(json: value)
        } catch {
            if case .invalid(let reason) = error { throw .refusedFile(path: path, reason: reason) }
            throw error
        }
    }

    /// Takes `directory/lock` with flock(LOCK_EX|LOCK_NB) and writes our pid into it.
    private static func lock(_ directory: String) throws(ProvisioningError) -> Int32 {
        let path = directory + "/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd < 0 { throw .io(operation: "opening lock file", path: path, errno: errno) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            defer { close(fd) }
            guard code == EWOULDBLOCK else { throw .io(operation: "locking", path: path, errno: code) }
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
            throw .locked(directory: directory, pid: Int32(text.split(separator: "\n").first ?? ""))
        }
        let pid = Array("\(getpid())\n".utf8)
        let written = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        if written != pid.count || ftruncate(fd, off_t(pid.count)) != 0 {
            let code = errno
            close(fd)
            throw .io(operation: "writing the pid into", path: path, errno: code)
        }
        return fd
    }

    /// Creates `directory` and any missing parent with mode 0700.
    private static func createDirectory(_ directory: String) throws(ProvisioningError) {
        var info = stat()
        if stat(directory, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw .io(operation: "using state directory", path: directory, errno: ENOTDIR) }
            return
        }
        let parent = AtomicFile.parentDirectory(of: directory)
        if parent != directory && parent != "." && parent != "/" { try createDirectory(parent) }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw .io(operation: "creating state directory", path: directory, errno: errno)
        }
    }

    /// Removes `provisioning.json.tmp-*` files: a temporary file is only ever complete once it
    /// has been renamed, so any left over is an interrupted write. Safe under the lock.
    static func removeLeftoverTemporaryFiles(in directory: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        let prefix = fileName + ".tmp-"
        var leftovers: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name.hasPrefix(prefix) { leftovers.append(name) }
        }
        for name in leftovers { unlink(directory + "/" + name) }
    }
}
