// Values parsed once, into typed values, with messages that say what a good value looks like.

import ArgumentParser
import BootcCore
import BootcPipeline
import Foundation

extension InstallerChoice: ExpressibleByArgument {
    /// --installer, else $PODMAN_BOOTC_INSTALLER, else auto. An admin or CI that boots images
    /// it does not trust sets `direct`: `auto` would run any image holding /usr/bin/bootc as a
    /// privileged container with the host's /dev.
    static func resolve(_ option: InstallerChoice?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> InstallerChoice {
        if let option { return option }
        let value = environment["PODMAN_BOOTC_INSTALLER"] ?? ""
        if value.isEmpty { return .auto }
        guard let choice = InstallerChoice(rawValue: value) else {
            throw ValidationError("PODMAN_BOOTC_INSTALLER=\(value.debugDescription) is not one of auto, bootc, direct")
        }
        return choice
    }
}

/// --accel: auto leaves the choice to the host (KVM when usable).
enum AccelerationMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    case auto, kvm, tcg

    var accelerator: Accelerator? { Accelerator(rawValue: rawValue) }

    /// --accel, else $PODMAN_BOOTC_ACCEL, else auto.
    static func resolve(_ option: AccelerationMode?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Accelerator? {
        if let option { return option.accelerator }
        let value = environment["PODMAN_BOOTC_ACCEL"] ?? ""
        if value.isEmpty { return nil }
        guard let mode = AccelerationMode(rawValue: value) else {
            throw ValidationError("PODMAN_BOOTC_ACCEL=\(value.debugDescription) is not one of auto, kvm, tcg")
        }
        return mode.accelerator
    }
}

/// The parsers behind typed options: each throws the message the user sees.
enum ArgumentValue {
    static func size(atLeast minimum: ByteSize? = nil, example: String) -> @Sendable (String) throws -> ByteSize {
        { text in
            guard let size = ByteSize(parsing: text), size >= (minimum ?? .mebibytes(0)) else {
                let floor = minimum.map { " of at least \($0)" } ?? ""
                throw ValidationError("expected a size\(floor), e.g. \(example)")
            }
            return size
        }
    }

    static func duration(example: String) -> @Sendable (String) throws -> Duration {
        { text in
            guard let duration = DurationParser.parse(text) else {
                throw ValidationError("expected a duration, e.g. \(example)")
            }
            return duration
        }
    }

    static func architecture(_ text: String) throws -> Architecture {
        guard let architecture = Architecture(anyName: text) else {
            throw ValidationError("expected an architecture: x86_64 (amd64) or aarch64 (arm64)")
        }
        return architecture
    }

    static func user(_ text: String) throws -> GuestUser {
        guard let user = GuestUser(text) else {
            throw ValidationError("expected a user name: lower-case letters, digits, _ and -, starting with a letter or _, at most 32 characters")
        }
        return user
    }

    /// HOST_DIR:GUEST_DIR[:ro]; the host folder must exist (QEMU's helper would fail later).
    static func sharedFolder(_ text: String) throws -> SharedFolder {
        guard let folder = SharedFolder(parsing: text, currentFolder: FileManager.default.currentDirectoryPath) else {
            throw ValidationError("expected HOST_DIR:GUEST_DIR[:ro] with an absolute GUEST_DIR other than /, no '..', ':' or spaces, e.g. ./src:/srv/src:ro")
        }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.hostPath, isDirectory: &isFolder), isFolder.boolValue else {
            throw ValidationError("\(folder.hostPath) is not a folder on this host; create it or name another")
        }
        return folder
    }

    static func port(_ text: String) throws -> PortForward {
        guard let forward = PortForward(parsing: text) else {
            throw ValidationError("expected [HOST_IP:]HOST_PORT:GUEST_PORT[/tcp|/udp] with an IPv4 HOST_IP, e.g. 8080:80")
        }
        return forward
    }

    static func artifact(_ text: String) throws -> ArtifactSpec {
        guard let spec = ArtifactSpec(text) else {
            throw ValidationError("expected GUEST_PATH[:HOST_DIR] with an absolute guest path, e.g. /var/log/app.log:out")
        }
        return spec
    }

    static func vmName(_ text: String) throws -> String {
        // Before anything is built: a bad name must not cost a build and an install first.
        guard VMNames.isValid(text) else { throw ValidationError(VMError.invalidName(text).description) }
        return text
    }

    static func cpus(_ text: String) throws -> Int {
        guard let count = Int(text), (1...256).contains(count) else {
            throw ValidationError("expected a number between 1 and 256")
        }
        return count
    }

    static func file(_ text: String) -> URL {
        URL(fileURLWithPath: text).standardizedFileURL
    }
}
