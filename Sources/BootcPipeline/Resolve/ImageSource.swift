// What `run TARGET` names, before any build: an image reference, a folder with a
// Containerfile, a quadlet `.build` unit, an images.yml image, or a root filesystem folder.

import BootcCore
import Foundation
import Host
import Installer
import Layers

/// A resolved `run` target, before any build.
package enum ImageSource: Equatable, Sendable {
    case reference(String)
    /// A build context folder with a Containerfile or Dockerfile.
    case containerfileFolder(URL)
    /// A quadlet .build unit file.
    case buildUnit(URL)
    /// An image of a layer-generator project: where the project is, the image's name.
    case layerImage(ProjectLocation, name: String)
    /// An image's files as a folder (e.g. the host's `podman image mount`, bind-mounted into
    /// podman-bootc's container): a folder with a kernel and no Containerfile.
    case rootFilesystem(URL)

    /// `config` is --config (an images.yml); without it ./images.yml is consulted for bare
    /// names, and only when the current folder is the caller's (git's safe.directory rule):
    /// another user's images.yml would decide what root builds and boots.
    package static func resolve(_ target: String, config: String? = nil, owners: TrustedOwners = .caller()) throws -> ImageSource {
        if !target.contains("/"), !target.contains(":"), let location = projectLocation(config: config) {
            let names: [String]
            do { names = try location.imageNames(owners: owners) } catch {
                // A named file that is missing leaves the name an image reference, as before.
                guard !(location.isNamed && !FileManager.default.fileExists(atPath: location.imagesFile.path)) else { return .reference(target) }
                throw ImageSourceError(message: "\(error)")
            }
            if names.contains(target) { return .layerImage(location, name: target) }
        }
        let url = URL(fileURLWithPath: target)
        var isFolder: ObjCBool = false
        if target.hasSuffix(".build"), FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), !isFolder.boolValue {
            return .buildUnit(url.standardizedFileURL)
        }
        // Only paths that look like paths: "debian" must stay an image name even if a folder
        // of that name happens to exist.
        let looksLikePath = target.hasPrefix("/") || target.hasPrefix(".") || target.hasSuffix("/")
        if looksLikePath, FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue {
            let folder = url.standardizedFileURL
            let hasContainerfile = ["Containerfile", "Dockerfile"].contains { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }
            // Never the host's own root: walking it whole would take minutes and boot nothing sane.
            if !hasContainerfile && folder.path != "/" && RootFilesystem.looksBootable(folder) { return .rootFilesystem(folder) }
            return .containerfileFolder(folder)
        }
        return .reference(target)
    }

    /// The project a bare name may come from: --config's, else the current folder's when it
    /// has an images.yml (anything of that name: a link there is refused, not skipped).
    static func projectLocation(config: String?) -> ProjectLocation? {
        if let config {
            let file = URL(fileURLWithPath: config).standardizedFileURL
            return ProjectLocation(root: file.deletingLastPathComponent(), imagesFile: file)
        }
        var info = stat()
        guard lstat("images.yml", &info) == 0 else { return nil }
        return ProjectLocation(root: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
    }

    /// `resolve` off the task: reading a large images.yml must not keep a signal waiting.
    package static func resolving(_ target: String, config: String? = nil) async throws -> ImageSource {
        try await InterruptibleWork.run { try resolve(target, config: config) }
    }

    /// The tag podman-bootc gives the image it builds from a folder: localhost/<folder name>.
    static func tag(forFolder folder: URL) -> String {
        let name = folder.lastPathComponent.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" }
        let cleaned = String(name).trimmingCharacters(in: CharacterSet(charactersIn: "-_."))
        return "localhost/\(cleaned.isEmpty ? "podman-bootc-image" : cleaned):latest"
    }
}

