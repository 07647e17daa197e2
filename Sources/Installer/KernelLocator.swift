// Finds the kernel and initramfs inside an image's root filesystem.

import Foundation

/// A kernel found in an image, as paths on the host (inside the mounted image).
public struct LocatedKernel: Equatable, Sendable {
    public var version: String
    public var kernel: URL
    public var initrd: URL?
}

public enum KernelLocator {
    /// bootc's layout first (/usr/lib/modules/$kver/vmlinuz + initramfs.img), then the
    /// traditional /boot/vmlinuz-$kver with initrd.img-$kver (Debian) or initramfs-$kver.img
    /// (Fedora). With several kernels the newest version wins.
    public static func locate(in root: URL) -> LocatedKernel? {
        let fm = FileManager.default
        let modules = root.appendingPathComponent("usr/lib/modules")
        let versions = ((try? fm.contentsOfDirectory(atPath: modules.path)) ?? []).sorted(by: newerFirst)
        for version in versions {
            let dir = modules.appendingPathComponent(version)
            if let kernel = existingFile(dir.appendingPathComponent("vmlinuz"), root: root) {
                let initrd = existingFile(dir.appendingPathComponent("initramfs.img"), root: root)
                    ?? bootInitrd(version: version, root: root)
                return LocatedKernel(version: version, kernel: kernel, initrd: initrd)
            }
        }
        let boot = root.appendingPathComponent("boot")
        let kernels = ((try? fm.contentsOfDirectory(atPath: boot.path)) ?? [])
            .filter { $0.hasPrefix("vmlinuz-") }
            .map { String($0.dropFirst("vmlinuz-".count)) }
            .sorted(by: newerFirst)
        for version in kernels {
            if let kernel = existingFile(boot.appendingPathComponent("vmlinuz-\(version)"), root: root) {
                return LocatedKernel(version: version, kernel: kernel, initrd: bootInitrd(version: version, root: root))
            }
        }
        return nil
    }

    private static func bootInitrd(version: String, root: URL) -> URL? {
        let boot = root.appendingPathComponent("boot")
        return existingFile(boot.appendingPathComponent("initrd.img-\(version)"), root: root)
            ?? existingFile(boot.appendingPathComponent("initramfs-\(version).img"), root: root)
    }

    /// The regular file at `url`, following symlinks inside the image: an absolute link
    /// target means a path in the image, never on the host.
    static func existingFile(_ url: URL, root: URL, depth: Int = 0) -> URL? {
        guard depth < 8 else { return nil }
        let fm = FileManager.default
        if let target = try? fm.destinationOfSymbolicLink(atPath: url.path) {
            let next = target.hasPrefix("/")
                ? root.appendingPathComponent(String(target.dropFirst()))
                : url.deletingLastPathComponent().appendingPathComponent(target)
            return existingFile(next.standardizedFileURL, root: root, depth: depth + 1)
        }
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else { return nil }
        return url
    }

    /// Orders kernel versions newest first, comparing their numbers as numbers.
    static func newerFirst(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: .numeric) == .orderedDescending
    }
}
