// Finds the kernel and initramfs inside an image's root filesystem.

import BootcCore
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
        let rootPath = root.standardizedFileURL.path
        guard let tree = try? ImageTree(root: rootPath) else { return nil }
        func file(_ path: String) -> URL? { existingFile(path, in: tree) }
        func names(_ folder: String) -> [String] { tree.resolved(folder).map(tree.children) ?? [] }

        for version in names("/usr/lib/modules").sorted(by: newerFirst) {
            let folder = "/usr/lib/modules/\(version)"
            if let kernel = file("\(folder)/vmlinuz") {
                let initrd = file("\(folder)/initramfs.img") ?? bootInitrd(version: version, file)
                return LocatedKernel(version: version, kernel: kernel, initrd: initrd)
            }
        }
        let kernels = names("/boot").filter { $0.hasPrefix("vmlinuz-") }.map { String($0.dropFirst("vmlinuz-".count)) }
        for version in kernels.sorted(by: newerFirst) {
            if let kernel = file("/boot/vmlinuz-\(version)") {
                return LocatedKernel(version: version, kernel: kernel, initrd: bootInitrd(version: version, file))
            }
        }
        return nil
    }

    /// The image's systemd-boot EFI binary for `architecture`, if it ships one.
    public static func systemdBoot(in root: URL, architecture: Architecture) -> URL? {
        guard let tree = try? ImageTree(root: root.standardizedFileURL.path) else { return nil }
        return architecture.systemdBootPaths.lazy.compactMap { existingFile($0, in: tree) }.first
    }

    /// The image's signed shim and GRUB for `architecture`, when it ships both.
    public static func signedBootChain(in root: URL, architecture: Architecture) -> (shim: URL, grub: URL)? {
        guard let tree = try? ImageTree(root: root.standardizedFileURL.path),
              let shim = architecture.signedShimPaths.lazy.compactMap({ existingFile($0, in: tree) }).first,
              let grub = architecture.signedGrubPaths.lazy.compactMap({ existingFile($0, in: tree) }).first else { return nil }
        return (shim, grub)
    }

    private static func bootInitrd(version: String, _ file: (String) -> URL?) -> URL? {
        file("/boot/initrd.img-\(version)") ?? file("/boot/initramfs-\(version).img")
    }

    /// The regular file at `url` (a path under `root`), following symlinks inside the image
    /// only: an absolute target is a path in the image, `..` stops at its root, and a link in
    /// a folder on the way is resolved the same way, so a planted link never reaches the host.
    static func existingFile(_ url: URL, root: URL) -> URL? {
        let rootPath = root.standardizedFileURL.path
        let fullPath = url.standardizedFileURL.path
        guard fullPath.hasPrefix(rootPath + "/"), let tree = try? ImageTree(root: rootPath) else { return nil }
        return existingFile(String(fullPath.dropFirst(rootPath.count)), in: tree)
    }

    /// The regular file at `path` in the image, as a host path with no link on the way.
    static func existingFile(_ path: String, in tree: ImageTree) -> URL? {
        guard let inImage = tree.resolved(path), tree.entry(inImage)?.kind == .file else { return nil }
        return URL(fileURLWithPath: tree.path + inImage)
    }

    /// Orders kernel versions newest first, comparing their numbers as numbers.
    static func newerFirst(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: .numeric) == .orderedDescending
    }
}
