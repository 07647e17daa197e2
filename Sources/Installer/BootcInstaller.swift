// Installs images that ship bootc the way bootc documents it: the image installs itself with
// `bootc install to-disk --via-loopback` in a privileged rootful podman container.

import BootcCore
import Foundation
import Host
import Logging
import Podman

/// Options bootc turns into the disk's filesystem and kernel command line.
public struct BootcInstallOptions: Codable, Sendable, Equatable {
    public var filesystem: String?
    public var rootSize: ByteSize?
    public var kernelArguments: [String]

    public init(filesystem: String? = nil, rootSize: ByteSize? = nil, kernelArguments: [String] = []) {
        self.filesystem = filesystem
        self.rootSize = rootSize
        self.kernelArguments = kernelArguments
    }
}

public enum BootcInstallArguments {
    /// Where the cache folder appears inside the installing container.
    public static let outputMount = "/output"

    /// bootc's documented invocation: privileged, host PID and IPC namespaces, SELinux
    /// unconfined, /dev and the container storage from the host, running as root.
    public static func podmanRun(image: String, outputDirectory: String, diskFileName: String,
                                 options: BootcInstallOptions) -> [String] {
        var argv = [
            "podman", "run", "--rm", "--privileged", "--pid=host", "--ipc=host",
            "--security-opt", "label=type:unconfined_t", "--user", "root:root",
            "-v", "/dev:/dev", "-v", "/var/lib/containers:/var/lib/containers",
            "-v", "\(outputDirectory):\(outputMount)",
            "--entrypoint", "/usr/bin/bootc",
            image,
            "install", "to-disk", "--via-loopback", "--generic-image",
        ]
        if let filesystem = options.filesystem { argv += ["--filesystem", filesystem] }
        if let rootSize = options.rootSize { argv += ["--root-size", "\(rootSize.mebibytes)M"] }
        for karg in options.kernelArguments { argv += ["--karg", karg] }
        argv.append("\(outputMount)/\(diskFileName)")
        return argv
    }
}

public enum BootcInstallerError: ToolError {
    case failed(status: Int32)
    case noDefaultFilesystem(image: String)

    public var description: String {
        switch self {
        case .failed(let status):
            return "bootc install to-disk failed with status \(status) (its output is above); fix the image or pass --installer direct"
        case .noDefaultFilesystem(let image):
            return "image \(image) names no default root filesystem for bootc; pass one with --filesystem (e.g. --filesystem xfs or ext4)"
        }
    }
}

/// Runs `bootc install to-disk` into a cache entry's partial folder.
public struct BootcInstaller: Sendable {
    let runner: any ProcessRunner
    /// The podman that runs the installing container: local, or a connection to a rootful
    /// podman machine whose host shares the cache folder's path.
    let endpoint: PodmanEndpoint

    public init(runner: any ProcessRunner, endpoint: PodmanEndpoint = .local) {
        self.runner = runner
        self.endpoint = endpoint
    }

    /// bootc images declare their root filesystem in /usr/lib/bootc/install/*.toml
    /// (`[install.filesystem.root] type = "xfs"`); without it bootc needs --filesystem.
    /// The image's files are read as the image sees them (links resolved inside it, never onto
    /// the host) and each is capped: a link to /dev/zero or /etc/shadow reads nothing.
    public static func declaresRootFilesystem(imageRoot: URL) -> Bool {
        guard let tree = try? ImageTree(root: imageRoot.standardizedFileURL.path),
              let folder = tree.resolved("/usr/lib/bootc/install") else { return false }
        return tree.children(folder).filter { $0.hasSuffix(".toml") }.contains { name in
            guard let file = tree.resolved(folder + "/" + name) else { return false }
            return tree.smallFile(file)?.contains("[install.filesystem.root]") == true
        }
    }

    /// Installs into `directory/disk.raw`, sized beforehand (bootc's loopback needs the file).
    /// bootc's own output streams to our stderr so the user sees its progress.
    public func install(image: String, size: ByteSize, options: BootcInstallOptions, into directory: URL) async throws -> URL {
        let disk = directory.appendingPathComponent("disk.raw")
        guard FileManager.default.createFile(atPath: disk.path, contents: nil),
              truncate(disk.path, off_t(size.bytes)) == 0 else {
            throw CocoaError(.fileWriteOutOfSpace, userInfo: [NSFilePathErrorKey: disk.path])
        }
        let argv = endpoint.command(BootcInstallArguments.podmanRun(image: image, outputDirectory: directory.path,
                                                                    diskFileName: disk.lastPathComponent, options: options))
        let result = try await runner.run(argv, stderr: .passThrough)
        guard result.status == 0 else { throw BootcInstallerError.failed(status: result.status) }
        chmod(disk.path, StateAccess.privateFile)
        return disk
    }
}
