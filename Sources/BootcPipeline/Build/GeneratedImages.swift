// Building images of a layer-generator project: generate .build/, hash what each image is
// made of (its generated folder, its layers, its bases' too), build bases first.

import BootcCore
import Foundation
import Host
import Invariance
import Layers

enum GeneratedImages {
    /// Loads, validates and writes .build/ for every enabled image (byte-identical output, so
    /// an unchanged project leaves the hashes unchanged).
    /// With `write` false (a dry run) nothing is written; the answer says whether .build/
    /// already holds what would be written (then the hashes are those a write would give).
    static func generate(_ location: ProjectLocation, write: Bool = true) throws -> (project: Project, current: Bool) {
        let project: Project
        do { project = try Project.load(location) } catch {
            throw LayersError.problems([error])
        }
        do {
            let generated = try project.generateAll()
            guard write else { return (project, generated.allSatisfy(project.isWritten)) }
            try StateAccess.withUserUmask { try project.write(generated) }
        } catch let invalid as ProjectInvalid {
            throw LayersError.problems(invalid.problems)
        }
        return (project, true)
    }

    /// Local builds are tagged localhost/NAME:latest (never the registry name: nothing is pushed).
    static func tag(_ image: String) -> String { "localhost/\(image):latest" }

    /// The images `image` is built on within the project, nearest last.
    static func bases(of image: String, in project: Project) throws -> [String] {
        do { return Array(try project.buildOrder([image]).dropLast()) } catch {
            throw LayersError.problems([LayerProblem(file: project.images.path, line: nil, message: "image bases form a cycle: \(error.path.joined(separator: " -> "))")])
        }
    }

    /// The invariance hash of everything the image is built from: for it and each base, its
    /// generated .build/ folder and its layers' folders (plus templates/ when present).
    static func hash(of image: String, in project: Project) throws -> String {
        var inputs: Set<String> = []
        var memo = ResolutionMemo()
        for name in try bases(of: image, in: project) + [image] {
            inputs.insert(".build/\(name)")
            let resolved: ResolvedImage
            do { resolved = try project.resolve(name, memo: &memo) } catch { throw LayersError.problems([error]) }
            for layer in resolved.resolvedLayers { inputs.insert("layers/\(layer)") }
        }
        if FileManager.default.fileExists(atPath: project.root.appendingPathComponent("templates").path) { inputs.insert("templates") }
        do { return try InvarianceHash.compute(inputs: inputs.sorted(), root: project.root) } catch {
            throw LayersError.internalError("\(error)")
        }
    }

    /// `podman build` of the generated Containerfile with the project as context; a base from
    /// the project is the locally built one.
    static func buildArguments(_ image: String, in project: Project, hash: String, tag: String) throws -> [String] {
        let resolved: ResolvedImage
        do { resolved = try project.resolve(image) } catch { throw LayersError.problems([error]) }
        var argv = ["podman", "build", "--tag", tag, "--file", project.root.appendingPathComponent(".build/\(image)/Containerfile").path,
                    "--label", "\(RebuildDecision.label)=\(hash)", "--build-arg", "INVARIANCE_HASH=\(hash)"]
        if resolved.baseIsImage { argv += ["--build-arg", "BASE_IMAGE=\(Self.tag(resolved.base))"] }
        argv.append(project.root.path)
        return argv
    }
}
