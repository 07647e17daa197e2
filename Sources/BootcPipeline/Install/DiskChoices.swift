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
    /// The guest architecture asked for (`--arch`); nil: the image's own.
    package var architecture: Architecture?

    package init(diskSize: ByteSize? = nil, installer: InstallerChoice = .auto, filesystem: String? = nil,
                 rootSize: ByteSize? = nil, kernelArguments: [String] = [], connection: String? = nil, architecture: Architecture? = nil) {
        self.diskSize = diskSize
        self.installer = installer
        self.filesystem = filesystem
        self.rootSize = rootSize
        self.kernelArguments = kernelArguments
        self.connection = connection
        self.architecture = architecture
    }

    func request(reference: String, image: ImageInspection) throws -> InstallRequest {
        let imageArchitecture = image.architecture.flatMap(Architecture.init(anyName:))
        if let wanted = self.architecture, let imageArchitecture, imageArchitecture != wanted {
            throw PodmanError.wrongArchitecture(reference: reference, has: imageArchitecture.ociName, wanted: wanted)
        }
        let architecture = imageArchitecture ?? self.architecture ?? .host
        return InstallRequest(reference: reference, image: image, architecture: architecture, diskSize: diskSize,
                              installer: installer,
                              bootc: BootcInstallOptions(filesystem: filesystem, rootSize: rootSize, kernelArguments: kernelArguments))
    }
}
