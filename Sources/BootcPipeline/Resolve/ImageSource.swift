// What `run TARGET` names, before any build: an image reference, a folder with a
// Containerfile, a quadlet `.build` unit, an images.yml image, or a root filesystem folder.

import BootcCore
import Foundation
import Installer
import Layers

/// A resolved `run` target, before any build.
package enum ImageSource: Equatable, Sendable {
    case reference(String)
    /// A build context folder with a Containerfile or Dockerfile.
    case containerfileFolder(URL)
    /// A quadlet .build unit file.
    case buildUnit(URL)
    /// An image of a layer-generator project: its folder, its images.yml, the image's name.
    case layerImage(root: URL, imagesFile: URL, name: String)
    /// An image's files as a folder (e.g. the host's `podman image mount`, bind-mounted into
    /// podman-bootc's container): a folder with a kernel and no Containerfile.
    case rootFilesystem(URL)

    /// `config` is --config (an images.yml); without it ./images.yml is consulted for bare names.
    package static func resolve(_ target: String, config: String? = nil) -> ImageSource {
        let imagesFile = URL(fileURLWithPath: config ?? "images.yml").standardizedFileURL
        if !target.contains("/"), !target.contains(":"), let text = try? String(contentsOf: imagesFile, encoding: .utf8) {
            // An images.yml that cannot be read (aliases, broken YAML) is the project's to
            // report: guessing an image name instead would hide what is wrong with it.
            let names = try? ImagesFile.declaredNames(in: text, file: imagesFile.path)
            if names?.contains(target) ?? true {
                return .layerImage(root: imagesFile.deletingLastPathComponent(), imagesFile: imagesFile, name: target)
            }
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

    /// `resolve` off the task: reading a large images.yml must not keep a signal waiting.
    package static func resolving(_ target: String, config: String? = nil) async throws -> ImageSource {
        try await InterruptibleWork.run { resolve(target, config: config) }
    }

    /// The tag podman-bootc gives the image it builds from a folder: localhost/<folder name>.
    static func tag(forFolder folder: URL) -> String {
        let name = folder.lastPathComponent.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" }
        let cleaned = String(name).trimmingCharacters(in: CharacterSet(charactersIn: "-_."))
        return "localhost/\(cleaned.isEmpty ? "podman-bootc-image" : cleaned):latest"
    }
}

