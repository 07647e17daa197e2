// A KubeVirt containerDisk: a scratch image holding one qcow2 under /disk/, owned by the
// qemu user of KubeVirt's launcher pod (107:107) and read-only. Written as a one-layer tar
// and imported with `podman import`: no Containerfile, so nothing of the names given can
// become an instruction, and the image holds exactly that file.

import BootcCore
import Foundation
import Host
import Podman

public struct ContainerDiskImage: Sendable {
    /// KubeVirt's launcher runs QEMU as uid/gid 107 and reads the disk from /disk/.
    public static let owner = 107
    public static let folder = "disk"
    /// The label that names the cache entry the disk came from.
    public static let cacheKeyLabel = "io.podman-bootc.cache-key"
    public static let sourceImageLabel = "io.podman-bootc.source-image"

    let runner: any ProcessRunner
    let podman: Podman

    public init(runner: any ProcessRunner, podman: Podman) {
        self.runner = runner
        self.podman = podman
    }

    /// File names KubeVirt and tar both take without surprises.
    public static func isValidDiskName(_ name: String) -> Bool {
        (1...128).contains(name.count) && !name.hasPrefix(".") && !name.hasPrefix("-")
            && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) }
    }

    /// Imports `qcow2` as `/disk/<diskName>` into `reference`; returns the image ID. `stage`
    /// is an empty private folder the caller removes.
    public func build(qcow2: URL, diskName: String, reference: String, labels: [String: String],
                      architecture: Architecture, stage: URL) async throws -> String {
        guard Self.isValidDiskName(diskName) else { throw InvalidDiskName(name: diskName) }
        let folder = stage.appendingPathComponent(Self.folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        let disk = folder.appendingPathComponent(diskName)
        guard rename(qcow2.path, disk.path) == 0 || (try? FileManager.default.copyItem(at: qcow2, to: disk)) != nil else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: disk.path])
        }
        chmod(disk.path, 0o440)
        chmod(folder.path, 0o555)
        defer { chmod(folder.path, 0o700) }
        var importArguments = ["import", "--quiet", "--arch", architecture.ociName]
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            importArguments += ["--change", "LABEL \(key)=\(Self.labelValue(value))"]
        }
        try await runner.pipe(
            ["tar", "--create", "--file=-", "--directory=\(stage.path)", "--numeric-owner",
             "--owner=\(Self.owner)", "--group=\(Self.owner)", "--format=posix", Self.folder],
            into: podman.command(["podman"] + importArguments + ["-", reference]))
        guard let image = try await podman.inspect(reference) else {
            throw ImageNotFound(reference: reference)
        }
        return image.id
    }

    /// Dockerfile's LABEL syntax, as `--change` parses it: a double-quoted string where a
    /// backslash escapes the next character. Control characters have no escape there.
    static func labelValue(_ value: String) -> String {
        var quoted = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"", "\\": quoted += "\\" + String(scalar)
            case _ where scalar.value < 0x20 || scalar.value == 0x7f: quoted += "?"
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }

    struct InvalidDiskName: ToolError {
        var name: String
        var exitCode: Int32 { ExitStatus.usage }
        var description: String { "\(name.debugDescription) cannot name the containerDisk's file: use letters, digits, '.', '_' and '-'" }
    }

    struct ImageNotFound: ToolError {
        var reference: String
        var description: String { "podman import did not leave \(reference) in podman storage" }
    }
}
