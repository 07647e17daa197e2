// The options that change an installed disk, once parsed and validated (`run`, `cache add`,
// `cache warm`).

import BootcCore
import Foundation
import Installer
import Podman

package struct DiskChoices: Sendable, Equatable {
    package var diskSize: ByteSize?
    package var installer: InstallerChoice
    package var filesystem: String?
    package var rootSize: ByteSize?
    package var kernelArguments: [String]
    /// Not part of the cache key: where bootc runs does not change the disk it writes.
    package var connection: String?

    package init(diskSize: ByteSize? = nil, installer: InstallerChoice = .auto, filesystem: String? = nil,
                 rootSize: ByteSize? = nil, kernelArguments: [String] = [], connection: String? = nil) {
        self.diskSize = diskSize
        self.installer = installer
        self.filesystem = filesystem
        self.rootSize = rootSize
        self.kernelArguments = kernelArguments
        self.connection = connection
    }

    func request(reference: String, image: ImageInspection) -> InstallRequest {
        let architecture = image.architecture.flatMap(Architecture.init(anyName:)) ?? .host
        return InstallRequest(reference: reference, image: image, architecture: architecture, diskSize: diskSize,
                              installer: installer,
                              bootc: BootcInstallOptions(filesystem: filesystem, rootSize: rootSize, kernelArguments: kernelArguments))
    }
}
