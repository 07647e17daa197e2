// `podman-bootc layers`: the layer generator (images.yml + layers/ -> Containerfiles).
// Data on stdout (inspect, list, version), messages on stderr; exit 0 ok, 1 for problems in
// the project or the command line, 2 for internal errors, as the `ov` tool does.

import ArgumentParser
import BootcCore
import Foundation
import BootcPipeline
import Layers

struct LayersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layers",
        abstract: "Generate Containerfiles from images.yml and layers/ (the layer generator).",
        subcommands: [LayersGenerate.self, LayersValidate.self, LayersInspect.self, LayersList.self, LayersNew.self, LayersVersion.self])
}

/// Where the project is: --dir (default: the current folder) and --config (default: DIR/images.yml).
struct ProjectOptions: ParsableArguments {
    @Option(help: "Project folder holding images.yml and layers/ (default: the current folder).")
    var dir: String?

    @Option(help: "The images.yml file (default: DIR/images.yml).")
    var config: String?

    var root: URL { URL(fileURLWithPath: dir ?? FileManager.default.currentDirectoryPath).standardizedFileURL }

    /// --config names the project explicitly: used whoever owns it; a found one must be yours.
    var location: ProjectLocation { ProjectLocation(root: root, imagesFile: config.map { URL(fileURLWithPath: $0) }) }

    func load() throws -> Project {
        do {
            return try Project.load(location)
        } catch {
            throw LayersError.problems([error])
        }
    }
}

struct LayersGenerate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Validate, then write .build/<image>/Containerfile (and routes, service fragments) for every enabled image.",
        discussion: """
            Output is byte-identical on every run for the same inputs; .build/ is disposable.

            Examples:
              podman-bootc layers generate
              podman-bootc layers generate --dir ~/src/images --tag 1.2.3
            """)

    @OptionGroup var project: ProjectOptions
    @Option(help: "Use this tag wherever images.yml says tag: auto.") var tag: String?

    func validate() throws {
        if let tag, !Project.isTag(tag) {
            throw ValidationError("--tag \(tag.debugDescription) is not a tag: letters, digits, _, . and - (at most 128, not starting with . or -)")
        }
    }

    func run() throws {
        var loaded = try project.load()
        loaded.tagOverride = tag
        let generated: [GeneratedImage]
        do { generated = try loaded.generateAll() } catch let invalid as ProjectInvalid {
            throw LayersError.problems(invalid.problems)
        }
        do {
            for file in try UserFiles.write({ try loaded.write(generated) }) {
                FileHandle.standardError.write(Data("generated \(file.path)\n".utf8))
            }
        } catch let refused as ToolError {
            // A link planted in .build/: the project's to fix, not ours.
            throw LayersError.usage("cannot write .build/: \(refused)")
        } catch {
            throw LayersError.internalError("cannot write .build/: \(error.localizedDescription)")
        }
    }
}

struct LayersValidate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check images.yml and layers/ against every rule; all problems at once, exit 0 or 1.",
        discussion: "Example:\n  podman-bootc layers validate --dir ~/src/images")

    @OptionGroup var project: ProjectOptions

    func run() throws {
        let problems = try project.load().validate()
        guard problems.isEmpty else { throw LayersError.problems(problems) }
        FileHandle.standardError.write(Data("valid\n".utf8))
    }
}

struct LayersInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print an image's resolved configuration as JSON, or one field.",
        discussion: """
            Examples:
              podman-bootc layers inspect fedora-test
              podman-bootc layers inspect fedora-test --format base
            """)

    @OptionGroup var project: ProjectOptions
    @Option(help: "Print only this field: tag, base, pkg, registry, platforms, layers, ports.") var format: String?
    @Argument(help: "Image name in images.yml.") var image: String

    func run() throws {
        let image: ResolvedImage
        do { image = try project.load().resolve(self.image) } catch let problem as LayerProblem {
            throw LayersError.problems([problem])
        }
        guard let format else {
            print(try JSONText.render(image))
            return
        }
        switch format {
        case "tag": print(image.tag)
        case "base": print(image.baseReference)
        case "pkg": print(image.pkg)
        case "registry": print(image.registry)
        case "platforms": print(image.platforms.joined(separator: " "))
        case "layers": print(image.resolvedLayers.joined(separator: " "))
        case "ports": print(image.ports.joined(separator: " "))
        default: throw LayersError.usage("--format \(format.debugDescription) is not one of tag, base, pkg, registry, platforms, layers, ports")
        }
    }
}

struct LayersList: ParsableCommand {
    enum What: String, ExpressibleByArgument, CaseIterable { case images, layers, services, routes }

    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List images, layers, service layers or routes, one per line.",
        discussion: "Examples:\n  podman-bootc layers list images\n  podman-bootc layers list routes")

    @OptionGroup var project: ProjectOptions
    @Argument(help: "images, layers, services or routes.") var what: What

    func run() throws {
        let loaded = try project.load()
        switch what {
        case .images: loaded.enabledImageNames.forEach { print($0) }
        case .layers: loaded.layers.keys.sorted().forEach { print($0) }
        case .services: loaded.layers.filter { $0.value.config.service != nil }.keys.sorted().forEach { print($0) }
        case .routes:
            for (name, layer) in loaded.layers.sorted(by: { $0.key < $1.key }) {
                guard let route = layer.config.route else { continue }
                print("\(name) \(route.host ?? "?") \(route.port ?? "?")")
            }
        }
    }
}

struct LayersNew: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "new",
        abstract: "Scaffold a new layer: `new layer NAME` writes layers/NAME/layer.yml.",
        discussion: "Example:\n  podman-bootc layers new layer postgres")

    @OptionGroup var project: ProjectOptions
    @Argument(help: "What to create: layer.") var kind: String
    @Argument(help: "The layer's name (lower-case letters, digits, hyphens).") var name: String

    func run() throws {
        guard kind == "layer" else { throw LayersError.usage("`new \(kind)` is unknown; use `new layer NAME`") }
        guard !name.isEmpty, name.first != "-", name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }) else {
            throw LayersError.usage("layer name \(name.debugDescription) must be lower-case letters, digits and hyphens")
        }
        let folder = project.root.appendingPathComponent("layers").appendingPathComponent(name)
        let text = """
            # Layer \(name): one concern. Add packages here, or install files beside this one
            # (root.yml, pixi.toml, package.json, Cargo.toml, user.yml).
            depends: []
            rpm:
              packages: []
            deb:
              packages: []

            """
        let created: String?
        do {
            created = try UserFiles.write { try project.location.createLayer(name, text: text) }
        } catch let problem as LayerProblem {
            throw LayersError.problems([problem])
        } catch let refused as ToolError {
            throw LayersError.usage("cannot create \(folder.path): \(refused)")
        } catch {
            throw LayersError.internalError("cannot create \(folder.path): \(error.localizedDescription)")
        }
        guard let created else { throw LayersError.usage("layer \(name) exists already (\(folder.path))") }
        FileHandle.standardError.write(Data("created \(created)\n".utf8))
    }
}

struct LayersVersion: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Print the CalVer tag (YYYY.DDD.HHMM, UTC) that tag: auto stands for now.",
        discussion: "Example:\n  podman-bootc layers version      # 2026.326.1415")

    func run() throws { print(CalVer.version(at: Date())) }
}
