// What `run TARGET` boots: an image reference, a folder with a Containerfile, or a quadlet
// `.build` unit; the latter two (and references whose unit is installed) are rebuilt only
// when podrun's invariance decision says so.

import BootcCore
import Foundation
import Host
import Installer
import Invariance
import Layers
import Podman

/// A resolved `run` target, before any build.
enum ImageSource: Equatable {
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
    static func resolve(_ target: String, config: String? = nil) -> ImageSource {
        let imagesFile = URL(fileURLWithPath: config ?? "images.yml").standardizedFileURL
        if !target.contains("/"), !target.contains(":"), let text = try? String(contentsOf: imagesFile, encoding: .utf8),
           ImagesFile.imageNames(in: text).contains(target) {
            return .layerImage(root: imagesFile.deletingLastPathComponent(), imagesFile: imagesFile, name: target)
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

    /// The tag podman-bootc gives the image it builds from a folder: localhost/<folder name>.
    static func tag(forFolder folder: URL) -> String {
        let name = folder.lastPathComponent.lowercased().map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "-" }
        let cleaned = String(name).trimmingCharacters(in: CharacterSet(charactersIn: "-_."))
        return "localhost/\(cleaned.isEmpty ? "podman-bootc-image" : cleaned):latest"
    }
}

enum ImageBuildError: ToolError {
    case invalidReference(String)
    case noContainerfile(folder: String)
    case labelMismatch(image: String, declared: String, labelled: String?)
    case unitError(String)

    var exitCode: Int32 {
        switch self {
        case .invalidReference: ExitStatus.usage
        case .noContainerfile: ExitStatus.notFound
        case .unitError: ExitStatus.usage
        case .labelMismatch: ExitStatus.toolFailure
        }
    }

    var description: String {
        switch self {
        case .invalidReference(let reference):
            return "\(reference.debugDescription) is not an image reference ([registry/]name[:tag][@digest], lower-case name), an images.yml image, a folder with a Containerfile or a .build unit; check the spelling with `podman images`"
        case .noContainerfile(let folder):
            return "\(folder) has no Containerfile or Dockerfile, and no kernel (it is not a root filesystem either); put a Containerfile there, or name an image instead"
        case .labelMismatch(let image, let declared, let labelled):
            return "built \(image), but its \(RebuildDecision.label) label is \(labelled.map { "\"\($0)\"" } ?? "missing"), not the declared \(declared): "
                + "the Containerfile must say `ARG INVARIANCE_HASH` and `LABEL \(RebuildDecision.label)=\"${INVARIANCE_HASH}\"`, "
                + "and the unit must pass --build-arg INVARIANCE_HASH=${INVARIANCE_HASH}"
        case .unitError(let message):
            return message
        }
    }
}

/// How an image is built, when podman-bootc knows: a quadlet unit, or a folder whose hash
/// podman-bootc computes itself.
enum BuildDefinition {
    case unit(QuadletBuild)
    case folder(URL, hash: String, tag: String)
    /// A generated image: built with its base images of the same project, bases first.
    case layers(project: Project, image: String, hash: String, tag: String)

    var imageTag: String {
        switch self {
        case .unit(let unit): unit.imageTag
        case .folder(_, _, let tag): tag
        case .layers(_, _, _, let tag): tag
        }
    }

    var declaredHash: String? {
        switch self {
        case .unit(let unit): unit.declaredHash
        case .folder(_, let hash, _): hash
        case .layers(_, _, let hash, _): hash
        }
    }

    var path: String {
        switch self {
        case .unit(let unit): unit.path
        case .folder(let folder, _, _): folder.path
        case .layers(let project, let image, _, _): project.images.path + " (image \(image))"
        }
    }
}

/// An image to boot and, when it has a build definition, podrun's decision about it.
struct ImagePlan {
    var reference: String
    var definition: BuildDefinition?
    var decision: RebuildDecision?
    var imageExists = false
}

/// Decides and builds what needs building; returns the image reference to boot.
struct ImageBuilder {
    let context: CommandContext

    /// The build definition behind `source`: the unit or folder itself, or for a reference,
    /// its quadlet unit NAME.build when one is installed for exactly that image.
    func definition(for source: ImageSource) throws -> BuildDefinition? {
        switch source {
        case .buildUnit(let url):
            return .unit(try loadUnit(url))
        case .containerfileFolder(let folder):
            guard ["Containerfile", "Dockerfile"].contains(where: { FileManager.default.fileExists(atPath: folder.appendingPathComponent($0).path) }) else {
                throw ImageBuildError.noContainerfile(folder: folder.path)
            }
            do {
                return .folder(folder, hash: try InvarianceHash.compute(inputs: ["."], root: folder), tag: ImageSource.tag(forFolder: folder))
            } catch let error as InvarianceHashError {
                throw ImageBuildError.unitError("\(error)")
            }
        case .rootFilesystem:
            return nil
        case .layerImage(let root, let imagesFile, let name):
            // Only a run that may build writes .build/; a plan hashes what is there, if current.
            let (project, current): (Project, Bool)
            do {
                (project, current) = try GeneratedImages.generate(root: root, imagesFile: imagesFile, write: context.isBuilding)
            } catch let error as LayersError {
                // `run` speaks the run's exit codes: a broken project is bad input (64), not 1.
                throw ImageBuildError.unitError("\(error)")
            }
            let hash = current ? try GeneratedImages.hash(of: name, in: project) : ""
            return .layers(project: project, image: name, hash: hash, tag: GeneratedImages.tag(name))
        case .reference(let reference):
            guard ImageReference.isValid(reference) else { throw ImageBuildError.invalidReference(reference) }
            let directories = QuadletNaming.searchDirectories(home: sudoUserHome ?? NSHomeDirectory(),
                                                              configHome: context.environment["XDG_CONFIG_HOME"])
            guard let url = QuadletNaming.findUnit(forImage: reference, in: directories) else { return nil }
            let unit = try loadUnit(url)
            // A unit that builds another image of the same base name is not this image's definition.
            return Self.withTag(unit.imageTag) == Self.withTag(reference) ? .unit(unit) : nil
        }
    }

    func plan(_ source: ImageSource) async throws -> ImagePlan {
        guard let definition = try definition(for: source) else {
            switch source {
            case .reference(let reference): return ImagePlan(reference: reference)
            case .rootFilesystem(let folder): return ImagePlan(reference: folder.path, imageExists: true)
            default: preconditionFailure("folders, units and images.yml images always have a definition")
            }
        }
        if case .layers(let project, let image, _, _) = definition {
            // Bases first: each is checked (and built) like the image itself.
            for base in try GeneratedImages.bases(of: image, in: project) {
                let basePlan = try await plan(.layerImage(root: project.root, imagesFile: URL(fileURLWithPath: project.images.path), name: base))
                if basePlan.decision?.build == true && context.isBuilding { try await build(basePlan) }
            }
        }
        let existing = try await context.podman.inspect(definition.imageTag)
        var decision = RebuildDecision.decide(imageExists: existing != nil, declaredHash: definition.declaredHash,
                                              imageHash: existing?.labels?[RebuildDecision.label])
        if case .layers(let project, let image, "", _) = definition {
            decision = RebuildDecision(build: true, reason: "\(project.root.path)/.build/\(image) is not what images.yml generates now (a run regenerates it)",
                                       declaredHash: nil, imageHash: existing?.labels?[RebuildDecision.label])
        }
        return ImagePlan(reference: definition.imageTag, definition: definition, decision: decision, imageExists: existing != nil)
    }

    /// Builds when the decision says so (and says why), then returns the reference to boot.
    func prepare(_ source: ImageSource) async throws -> String {
        var building = context
        building.isBuilding = true
        let plan = try await ImageBuilder(context: building).plan(source)
        try await build(plan)
        return plan.reference
    }

    private func build(_ plan: ImagePlan) async throws {
        guard let definition = plan.definition, let decision = plan.decision else { return }
        guard decision.build else {
            context.logger.info("using \(plan.reference): \(decision.reason)")
            return
        }
        context.progress.notice("Building \(plan.reference) from \(definition.path): \(decision.reason)")
        switch definition {
        case .unit(let unit):
            try await runBuild(unit)
            if let declared = unit.declaredHash {
                let labelled = try await context.podman.inspect(unit.imageTag)?.labels?[RebuildDecision.label]
                guard labelled == declared else { throw ImageBuildError.labelMismatch(image: unit.imageTag, declared: declared, labelled: labelled) }
            }
        case .folder(let folder, let hash, let tag):
            // podman-bootc sets the label itself, so nobody maintains a hash by hand.
            try await context.runner.check(["podman", "build", "--tag", tag, "--label", "\(RebuildDecision.label)=\(hash)",
                                            "--build-arg", "INVARIANCE_HASH=\(hash)", folder.path], stderr: .passThrough)
        case .layers(let project, let image, let hash, let tag):
            try await context.runner.check(GeneratedImages.buildArguments(image, in: project, hash: hash, tag: tag), stderr: .passThrough)
        }
    }

    /// "name" and "name:latest" are the same image.
    static func withTag(_ reference: String) -> String {
        let last = reference.split(separator: "/").last ?? ""
        return last.contains(":") || last.contains("@") ? reference : reference + ":latest"
    }

    private var sudoUserHome: String? {
        guard case .rootless(_, let home)? = PodmanEndpoint.sudoUserStorage(environment: context.environment) else { return nil }
        return home
    }

    private func loadUnit(_ url: URL) throws -> QuadletBuild {
        do {
            return try QuadletBuild(contentsOf: url)
        } catch let error as UnitFileError {
            throw ImageBuildError.unitError("\(error)")
        }
    }

    /// Through the unit's own service when systemd runs it (podrun's way), else the same
    /// `podman build` quadlet would run. A user's service builds into that user's storage,
    /// from which the image is copied into rootful storage.
    private func runBuild(_ unit: QuadletBuild) async throws {
        let service = QuadletNaming.serviceName(forUnitFile: (unit.path as NSString).lastPathComponent)
        let folder = (unit.path as NSString).deletingLastPathComponent
        let systemdRuns = FileManager.default.fileExists(atPath: "/run/systemd/system")
        let userStorage = PodmanEndpoint.sudoUserStorage(environment: context.environment)
        if systemdRuns, ["/etc/containers/systemd", "/usr/share/containers/systemd"].contains(folder) {
            try await context.runner.check(["systemctl", "start", service], stderr: .passThrough)
        } else if systemdRuns, case .rootless(let user, _)? = userStorage,
                  folder.hasSuffix("/containers/systemd/users") || folder.hasSuffix("/.config/containers/systemd") {
            try await context.runner.check(["systemctl", "--user", "--machine", "\(user)@", "start", service], stderr: .passThrough)
            try await context.podman.copyImage(unit.imageTag, from: Podman(runner: context.runner, endpoint: userStorage!))
        } else {
            try await context.runner.check(unit.podmanBuildArguments, stderr: .passThrough)
        }
    }
}
