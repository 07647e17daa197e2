// How far a disk being written has got, read from its allocated size (mkfs prints nothing
// while it copies).

import Foundation

enum DiskWriteMeter {
    /// Runs `body`, telling `meter` (bytes written, bytes expected) four times a second how
    /// much of `disk` is allocated, until `body` returns.
    static func watching<T: Sendable>(_ disk: URL, expected: UInt64?, meter: (@Sendable (UInt64, UInt64) -> Void)?,
                                      _ body: () async throws -> T) async throws -> T {
        guard let meter, let expected else { return try await body() }
        let poller = Task {
            while !Task.isCancelled {
                meter(min(allocatedBytes(disk.path), expected), expected)
                try? await Task.sleep(for: .milliseconds(250))
            }
        }
        defer { poller.cancel() }
        let value = try await body()
        poller.cancel()
        meter(expected, expected)
        return value
    }

    private static func allocatedBytes(_ path: String) -> UInt64 {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return UInt64(info.st_blocks) * 512
    }
}
