// What `export` is asked for, the usage errors found before anything is done, and what it
// hands back.

import BootcCore
import Foundation

package enum ExportFormat: String, CaseIterable, Sendable {
    case raw, qcow2, containerdisk, kubevirt
}

package struct ExportRequest: Sendable {
    package var target: String
    package var config: String?
    package var format: ExportFormat
    /// The disk file (raw, qcow2) or the manifest folder (kubevirt).
    package var output: String?
    /// The containerDisk image's reference (containerdisk, kubevirt).
    package var tag: String?
    /// Where to write the cloud-init identity (raw, qcow2, containerdisk; kubevirt uses `output`).
    package var identity: String?
    package var name: String?
    package var user: GuestUser
    package var disk: DiskChoices
    package var cpus: Int
    package var memoryMiB: Int
    /// A direct-installed disk boots through the image's signed shim and GRUB (firmware that
    /// enforces Secure Boot starts it).
    package var secureBoot = false

    package init(target: String, config: String?, format: ExportFormat, output: String?, tag: String?, identity: String?,
                 name: String?, user: GuestUser, disk: DiskChoices, cpus: Int, memoryMiB: Int) {
        self.target = target
        self.config = config
        self.format = format
        self.output = output
        self.tag = tag
        self.identity = identity
        self.name = name
        self.user = user
        self.disk = disk
        self.cpus = cpus
        self.memoryMiB = memoryMiB
    }
}

package enum ExportUsageError: ToolError, Equatable {
    case invalidName(String)
    case invalidTag(String)
    case optionNotForFormat(option: String, format: String)
    case identityFolderNotEmpty(String)
    /// Another user's, or writable by others: the keys would be theirs to read or replace.
    case untrustedFolder(String)

    package var exitCode: Int32 { ExitStatus.usage }

    package var description: String {
        switch self {
        case .invalidName(let name):
            return "--name \(name.debugDescription) is not usable as a hostname and Kubernetes name: use 1-52 lower-case letters, digits and '-', not starting or ending with '-'"
        case .invalidTag(let tag):
            return "-t \(tag.debugDescription) is not a valid image reference, e.g. localhost/my-disk:latest or quay.io/me/my-disk:1"
        case .optionNotForFormat(let option, let format):
            return "\(option) does not apply to --format \(format); see `podman-bootc export --help`"
        case .identityFolderNotEmpty(let path):
            return "\(path) exists and is not empty; give a new folder for the identity (export never overwrites keys)"
        case .untrustedFolder(let message):
            return message
        }
    }
}

/// What an export wrote, for the user.
package struct ExportResult: Sendable {
    package var name: String
    package var cacheKey: String
    package var disk: String?
    package var image: String?
    package var identityFolder: String?
    package var manifests: [String] = []
    package var bootloader: String
}

