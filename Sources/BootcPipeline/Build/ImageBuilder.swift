// Decides whether an image needs building (podrun's invariance decision) and builds it,
// bases first; returns the image to install.

import BootcCore
import Foundation
import Host
import Invariance
import Layers
import Podman

/// Decides and builds what needs building; returns the image reference to boot.
struct ImageBuilder {
    let context: PipelineContext

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
        case .layerImage(let location, let name):
            // Only a run that may build writes .build/; a plan hashes what is there, if current.
            let (project, current): (Project, Bool)
            do {
                (project, current) = try GeneratedImages.generate(location, write: context.isBuilding)
            } catch let error as LayersError {
                // `run` speaks the run's exit codes: a broken project is bad input (64), not 1.
                throw ImageBuildError.unitError("\(error)")
            }
            return try Self.layerDefinition(name, in: project, current: current)
        case .reference(let reference):
            // Swift decodes the command line as UTF-8: bytes that are not became U+FFFD.
            if reference.unicodeScalars.contains("\u{FFFD}") { throw ImageBuildError.notUTF8(reference) }
            guard ImageReference.isValid(reference) else { throw ImageBuildError.invalidReference(reference) }
            let directories = QuadletNaming.searchDirectories(home: sudoUserHome ?? NSHomeDirectory(),
                                                              configHome: context.environment["XDG_CONFIG_HOME"])
            guard let url = QuadletNaming.findUnit(forImage: reference, in: directories) else { return nil }
            let unit = try loadUnit(url)
            // A unit that builds another image of the same base name is not this image's definition.
            return Self.withTag(unit.imageTag) == Self.withTag(reference) ? .unit(unit) : nil
        }
    }

    /// An image of an already generated project (`current`: .build/ holds what it generates).
    static func layerDefinition(_ image: String, in project: Project, current: Bool) throws -> BuildDefinition {
        let hash = current ? try GeneratedImages.hash(of: image, in: project) : ""
        return .layers(project: project, image: image, hash: hash, tag: GeneratedImages.tag(image))
    }

    func plan(_ source: ImageSource) async throws -> ImagePlan {
        // Parsing, generating and hashing a project can take as long as its input makes it:
        // off the task, so a signal is not kept waiting.
        let builder = self
        guard let definition = try await InterruptibleWork.run({ try builder.definition(for: source) }) else {
            switch source {
            case .reference(let reference): return ImagePlan(image: .reference(reference))
            case .rootFilesystem(let folder): return ImagePlan(image: .rootFilesystem(folder), imageExists: true)
            default: preconditionFailure("folders, units and images.yml images always have a definition")
            }
        }
        if case .layers(let project, let image, _, _) = definition, context.isBuilding {
            try await buildBases(of: image, in: project)
        }
        return try await decide(definition)
    }

    /// Bases first, each checked (and built) like the image itself. `bases` is already every
    /// base of every base in build order, so each is planned once, from the project generated
    /// once: planning each base's bases again made a chain of N images cost 2^N plans.
    /// A dry run skips them: the image's own hash covers its bases' inputs.
    private func buildBases(of image: String, in project: Project) async throws {
        for base in try GeneratedImages.bases(of: image, in: project) {
            let definition = try await InterruptibleWork.run { try Self.layerDefinition(base, in: project, current: true) }
            let plan = try await decide(definition)
            if plan.decision?.build == true { try await build(plan) }
        }
    }

    /// podrun's decision for one definition: one inspection of its image.
    private func decide(_ definition: BuildDefinition) async throws -> ImagePlan {
        let existing = try await context.podman.inspect(definition.imageTag)
        var decision = RebuildDecision.decide(imageExists: existing != nil, declaredHash: definition.declaredHash,
                                              imageHash: existing?.labels?[RebuildDecision.label])
        if case .layers(let project, let image, "", _) = definition {
            decision = RebuildDecision(build: true, reason: "\(project.root.path)/.build/\(image) is not what images.yml generates now (a run regenerates it)",
                                       declaredHash: nil, imageHash: existing?.labels?[RebuildDecision.label])
        }
        return ImagePlan(image: .reference(definition.imageTag), definition: definition, decision: decision, imageExists: existing != nil)
    }

    /// Builds when the decision says so (and says why), then returns the image to install.
    func prepare(_ source: ImageSource) async throws -> ImageToInstall {
        var building = context
        building.isBuilding = true
        let plan = try await ImageBuilder(context: building).plan(source)
        try await build(plan)
        return plan.image
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
