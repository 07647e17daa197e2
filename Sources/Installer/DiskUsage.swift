// How much of the disk a folder takes.

import Foundation

/// Bytes allocated under a folder, recursively (sparse files count what they use).
public enum DiskUsage {
    public static func allocatedBytes(under folder: URL) -> UInt64 {
        guard let walker = FileManager.default.enumerator(atPath: folder.path) else { return 0 }
        var total: UInt64 = 0
        while let path = walker.nextObject() as? String {
            var info = stat()
            guard lstat(folder.appendingPathComponent(path).path, &info) == 0 else { continue }
            total += UInt64(info.st_blocks) * 512
        }
        return total
    }
}
