// The image a run installs, from resolve (and build) to install: one value, so no later stage
// has to patch the root-filesystem case back in.

import Foundation

package enum ImageToInstall: Sendable, Equatable {
    /// An image in rootful podman storage (copied from the sudo user's storage when only there).
    case reference(String)
    /// An image's files as a folder (see ImageSource.rootFilesystem).
    case rootFilesystem(URL)

    /// What the user and the VM record call it.
    package var name: String {
        switch self {
        case .reference(let reference): reference
        case .rootFilesystem(let folder): folder.path
        }
    }
}
