// Loads a project folder (images.yml + layers/*/) into values, collecting every problem in
// the files rather than stopping at the first. The folder is held open and every file in it
// read relative to it, never through a link; a folder found (the current one, --dir) is used
// only when it is the caller's (see TrustedFolder), one named with --config whoever owns it.

import Foundation
import Host

/// Where a project is: its folder and its images.yml, and whether the user named the file.
public struct ProjectLocation: Sendable, Equatable {
    public var root: URL
    public var imagesFile: URL
    /// Named with --config: the user's explicit choice, used whoever owns the folder.
    public var isNamed: Bool

    /// `imagesFile` nil: `root`/images.yml, found rather than named.
    public init(root: URL, imagesFile: URL? = nil) {
        self.root = root.standardizedFileURL
        self.imagesFile = (imagesFile ?? root.appendingPathComponent("images.yml")).standardizedFileURL
        self.isNamed = imagesFile != nil
    }

    /// A project's files are text of a few KiB; the cap only bounds what a mistake can cost.
    static let textLimit = 16 << 20

    /// The project folder, open: checked for ownership unless the user named it.
    func openFolder(owners: TrustedOwners) throws(LayerProblem) -> ConfinedFolder {
        do {
            if isNamed {
                guard let real = realpath(root.path, nil) else {
                    throw LayerProblem(file: root.path, line: nil, message: "cannot be opened (\(String(cString: strerror(errno))))")
                }
                defer { free(real) }
                return try ConfinedFolder(opening: String(cString: real))
            }
            return try TrustedFolder.open(root.path, owners: owners, advice: UntrustedFolderError.projectAdvice(explicitOption: "--config \(imagesFile.path)"))
        } catch let problem as LayerProblem {
            throw problem
        } catch {
            throw LayerProblem(error, file: root.path)
        }
    }

    /// images.yml's text: a named file through its own path (its last component no link), a
    /// found one through the open project folder.
    func imagesText(in folder: ConfinedFolder) throws(LayerProblem) -> String {
        let data: Data?
        do {
            if isNamed || imagesFile.deletingLastPathComponent().path != root.path {
                var info = stat()
                if lstat(imagesFile.path, &info) != 0 {
                    data = nil
                } else {
                    data = try FileDescriptorHandle.openRegularFile(imagesFile.path).readAll(limit: Self.textLimit)
                }
            } else {
                data = try folder.readFile(imagesFile.lastPathComponent, limit: Self.textLimit)
            }
        } catch var refused as ConfinedPathError {
            refused.hint = ConfinedPathError.projectHint
            throw LayerProblem(refused, file: imagesFile.path)
        } catch {
            throw LayerProblem(error, file: imagesFile.path)
        }
        guard let data, let text = String(data: data, encoding: .utf8) else {
            throw LayerProblem(file: imagesFile.path, line: nil, message: "cannot read it; run in a project folder that has an images.yml, or pass --config FILE")
        }
        return text
    }
}

public struct Project: Sendable {
    /// Where it was loaded from (bases of an image are loaded from there too).
    public var location: ProjectLocation
    public var root: URL { location.root }
    /// The project folder, held open: .build/ is written relative to it.
    public var folder: ConfinedFolder
    public var images: ImagesFile
    public var layers: [String: Layer]
    /// templates/supervisord.header.conf, read at load (never through a link).
    public var supervisordHeader: Data?
    /// Problems found while reading (syntax, types, unknown keys); validation adds the rest.
    public var readProblems: [LayerProblem]
    /// `generate --tag`: replaces every `auto` tag.
    public var tagOverride: String?

    /// Reads `root`/images.yml (or `imagesFile`) and every folder under `root`/layers.
    public static func load(root: URL, imagesFile: URL? = nil, owners: TrustedOwners = .caller()) throws(LayerProblem) -> Project {
        try load(ProjectLocation(root: root, imagesFile: imagesFile), owners: owners)
    }

    public static func load(_ location: ProjectLocation, owners: TrustedOwners = .caller()) throws(LayerProblem) -> Project {
        let folder = try location.openFolder(owners: owners)
        let text = try location.imagesText(in: folder)
        var collector = ProblemCollector()
        let images = ImagesFileReader.read(file: location.imagesFile.path, text: text, into: &collector)
        var layers: [String: Layer] = [:]
        let layersFolder = collector.attempt { () throws(LayerProblem) in try Self.subfolder("layers", of: folder) } ?? nil
        for name in layersFolder?.names() ?? [] where !name.hasPrefix(".") {
            // Files beside the layers are not layers; a link is reported, not followed.
            guard let layersFolder, let kind = layersFolder.kind(of: name), kind == .folder || kind == .link else { continue }
            guard let layer = collector.attempt({ () throws(LayerProblem) in try Self.subfolder(name, of: layersFolder) }) ?? nil else { continue }
            layers[name] = LayerReader.read(name: name, folder: layer, into: &collector)
        }
        let header = collector.attempt { () throws(LayerProblem) -> Data? in
            guard let templates = try Self.subfolder("templates", of: folder) else { return nil }
            return try Self.file("supervisord.header.conf", in: templates)
        } ?? nil
        return Project(location: location, folder: folder, images: images, layers: layers, supervisordHeader: header,
                       readProblems: collector.problems)
    }

    /// The sub-folder `name`, nil when missing; a link there is a problem, not followed.
    static func subfolder(_ name: String, of folder: ConfinedFolder) throws(LayerProblem) -> ConfinedFolder? {
        do { return try folder.existingSubfolder(name) } catch {
            throw LayerProblem(error, file: folder.path + "/" + name)
        }
    }

    /// The text file `name` (at most 16 MiB), nil when missing; a link there is a problem.
    static func file(_ name: String, in folder: ConfinedFolder) throws(LayerProblem) -> Data? {
        do { return try folder.readFile(name, limit: ProjectLocation.textLimit) } catch {
            throw LayerProblem(error, file: folder.path + "/" + name)
        }
    }
}

extension LayerProblem {
    /// A refused path as a problem of the file it names (said once, not twice).
    init(_ error: any Error, file: String) {
        switch error {
        case let refused as UntrustedFolderError:
            self.init(file: refused.path, line: nil, message: refused.explanation)
        case let refused as ConfinedPathError:
            self.init(file: refused.path, line: nil, message: refused.hint.isEmpty ? refused.reason : "\(refused.reason): \(refused.hint)")
        default:
            self.init(file: file, line: nil, message: "\(error)")
        }
    }
}

extension ProjectLocation {
    /// The image names its images.yml defines (empty when it does not parse), read as `load`
    /// reads it: a found folder must be the caller's.
    /// The image names the project's images.yml defines; a problem when it cannot be read as
    /// one (aliases, broken YAML): guessing that a name is no project image would hide that.
    public func imageNames(owners: TrustedOwners = .caller()) throws(LayerProblem) -> [String] {
        try ImagesFile.declaredNames(in: try imagesText(in: try openFolder(owners: owners)), file: imagesFile.path)
    }
}

extension ProjectLocation {
    /// Writes layers/`name`/layer.yml (both new) relative to the open project folder, never
    /// through a link; nil when the layer exists already. Returns the file's path.
    public func createLayer(_ name: String, text: String, owners: TrustedOwners = .caller()) throws -> String? {
        let folder = try openFolder(owners: owners)
        do {
            let layers = try folder.subfolder("layers", mode: 0o755)
            guard layers.kind(of: name) == nil else { return nil }
            let layer = try layers.subfolder(name, mode: 0o755)
            let file = try layer.createFile("layer.yml", mode: StateAccess.userMode(0o644), replacing: false)
            try Data(text.utf8).withUnsafeBytes { try file.write($0) }
            return file.path
        } catch var error as ConfinedPathError {
            error.hint = ConfinedPathError.projectHint
            throw error
        }
    }
}

extension ImagesFile {
    /// The image names an images.yml text defines (empty when it does not parse).
    public static func imageNames(in text: String) -> [String] {
        (try? declaredNames(in: text)) ?? []
    }

    /// The image names an images.yml text defines; a problem when it cannot be read as one
    /// (not YAML, aliases, no images: mapping).
    public static func declaredNames(in text: String, file: String = "images.yml") throws(LayerProblem) -> [String] {
        guard let document = try YAMLValue.load(file: file, text: text) else {
            throw LayerProblem(file: file, line: nil, message: "is empty; it needs an images: mapping")
        }
        guard let images = try document.mapping(file).first(where: { $0.key == "images" })?.value else {
            throw LayerProblem(file: file, line: document.line, message: "has no images: mapping")
        }
        return try images.mapping("images").map(\.key)
    }
}

enum ImagesFileReader {
    static let settingKeys: Set<String> = ["enabled", "base", "bootc", "platforms", "tag", "registry", "pkg", "ports",
                                           "user", "uid", "gid", "merge"]

    static func read(file: String, text: String, into collector: inout ProblemCollector) -> ImagesFile {
        var result = ImagesFile(path: file, defaults: ImageSettings(), images: [])
        guard let document = collector.attempt({ () throws(LayerProblem) in try YAMLValue.load(file: file, text: text) }) ?? nil else {
            if collector.problems.isEmpty { collector.add(LayerProblem(file: file, line: nil, message: "is empty; it needs an images: mapping")) }
            return result
        }
        guard let top = collector.attempt({ () throws(LayerProblem) in try document.mapping("images.yml") }) else { return result }
        var sawImages = false
        for (key, value) in top {
            switch key {
            case "defaults":
                result.defaults = settings(value, what: "defaults", allowLayers: false, into: &collector).0
            case "images":
                sawImages = true
                guard let entries = collector.attempt({ () throws(LayerProblem) in try value.mapping("images") }) else { continue }
                // Assigned once: the file indexes its images by name on every assignment.
                result.images = entries.map { name, body in
                    let (settings, layers) = self.settings(body, what: "image \(name)", allowLayers: true, into: &collector)
                    return ImageEntry(name: name, line: body.line, settings: settings, layers: layers)
                }
            default:
                collector.add(value.problem("unknown top-level key \(key.debugDescription) (known: defaults, images)"))
            }
        }
        if !sawImages { collector.add(LayerProblem(file: file, line: document.line, message: "has no images: mapping")) }
        return result
    }

    static func settings(_ value: YAMLValue, what: String, allowLayers: Bool,
                         into collector: inout ProblemCollector) -> (ImageSettings, [String]?) {
        var settings = ImageSettings()
        var layers: [String]?
        guard let entries = collector.attempt({ () throws(LayerProblem) in try value.mapping(what) }) else { return (settings, nil) }
        for (key, field) in entries {
            let name = "\(what): \(key)"
            switch key {
            case "enabled": settings.enabled = collector.attempt { () throws(LayerProblem) in try field.bool(name) }
            case "base": settings.base = collector.attempt { () throws(LayerProblem) in try field.string(name) }
            case "bootc": settings.bootc = collector.attempt { () throws(LayerProblem) in try field.bool(name) }
            case "platforms": settings.platforms = collector.attempt { () throws(LayerProblem) in try field.strings(name) }
            case "tag": settings.tag = collector.attempt { () throws(LayerProblem) in try field.string(name) }
            case "registry": settings.registry = collector.attempt { () throws(LayerProblem) in try field.string(name) }
            case "pkg": settings.pkg = collector.attempt { () throws(LayerProblem) in try field.string(name) }
            case "ports": settings.ports = collector.attempt { () throws(LayerProblem) in try field.strings(name) }
            case "user": settings.user = collector.attempt { () throws(LayerProblem) in try field.string(name) }
            case "uid": settings.uid = collector.attempt { () throws(LayerProblem) in try field.int(name) }
            case "gid": settings.gid = collector.attempt { () throws(LayerProblem) in try field.int(name) }
            case "merge":
                guard let merge = collector.attempt({ () throws(LayerProblem) in try field.mapping(name) }) else { continue }
                var parsed = MergeSettings()
                for (mergeKey, mergeValue) in merge {
                    switch mergeKey {
                    case "auto": parsed.auto = collector.attempt { () throws(LayerProblem) in try mergeValue.bool("\(name).auto") }
                    case "max_mb": parsed.maxMB = collector.attempt { () throws(LayerProblem) in try mergeValue.int("\(name).max_mb") }
                    default: collector.add(mergeValue.problem("unknown key \(mergeKey.debugDescription) in \(name) (known: auto, max_mb)"))
                    }
                }
                settings.merge = parsed
            case "layers" where allowLayers:
                layers = collector.attempt { () throws(LayerProblem) in try field.strings(name) }
            default:
                let known = (settingKeys.union(allowLayers ? ["layers"] : [])).sorted().joined(separator: ", ")
                collector.add(field.problem("unknown key \(key.debugDescription) in \(what) (known: \(known))"))
            }
        }
        return (settings, layers)
    }
}

enum LayerReader {
    static func read(name: String, folder: ConfinedFolder, into collector: inout ProblemCollector) -> Layer {
        let files = Set(InstallFile.allCases.filter { folder.kind(of: $0.rawValue) != nil })
        let hasSource = folder.kind(of: "src") == .folder
        var layer = Layer(name: name, folder: folder.path, config: LayerConfig(), files: files, hasSourceFolder: hasSource)
        let configFile = folder.path + "/layer.yml"
        guard let data = collector.attempt({ () throws(LayerProblem) in try Project.file("layer.yml", in: folder) }) ?? nil,
              let text = String(data: data, encoding: .utf8) else { return layer }
        layer.configFile = configFile
        layer.config = config(file: configFile, text: text, into: &collector)
        return layer
    }

    static func config(file: String, text: String, into collector: inout ProblemCollector) -> LayerConfig {
        var config = LayerConfig()
        guard let document = collector.attempt({ () throws(LayerProblem) in try YAMLValue.load(file: file, text: text) }) ?? nil,
              let entries = collector.attempt({ () throws(LayerProblem) in try document.mapping("layer.yml") }) else { return config }
        for (key, field) in entries {
            config.line[key] = field.line
            switch key {
            case "depends": config.depends = collector.attempt { () throws(LayerProblem) in try field.strings("depends") } ?? []
            case "env":
                for (envKey, envValue) in collector.entries(field, "env") {
                    if let value = collector.attempt({ () throws(LayerProblem) in try envValue.string("env \(envKey)") }) {
                        config.env.append((envKey, value))
                        config.line["env." + envKey] = envValue.line
                    }
                }
            case "path_append": config.pathAppend = collector.attempt { () throws(LayerProblem) in try field.strings("path_append") } ?? []
            case "ports": config.ports = collector.attempt { () throws(LayerProblem) in try field.strings("ports") } ?? []
            case "service": config.service = collector.attempt { () throws(LayerProblem) in try field.string("service") }
            case "route":
                var route = Route()
                for (routeKey, routeValue) in collector.entries(field, "route") {
                    switch routeKey {
                    case "host": route.host = collector.attempt { () throws(LayerProblem) in try routeValue.string("route.host") }
                    case "port": route.port = collector.attempt { () throws(LayerProblem) in try routeValue.string("route.port") }
                    default: collector.add(routeValue.problem("unknown key \(routeKey.debugDescription) in route (known: host, port)"))
                    }
                }
                config.route = route
            case "rpm": config.rpm = rpm(field, into: &collector)
            case "deb":
                var packages: [String] = []
                for (debKey, debValue) in collector.entries(field, "deb") {
                    if debKey == "packages" {
                        packages = collector.attempt { () throws(LayerProblem) in try debValue.strings("deb.packages") } ?? []
                    } else {
                        collector.add(debValue.problem("unknown key \(debKey.debugDescription) in deb (known: packages)"))
                    }
                }
                config.deb = packages
            default:
                collector.add(field.problem("unknown key \(key.debugDescription) in layer.yml (known: depends, env, path_append, ports, route, service, rpm, deb)"))
            }
        }
        return config
    }

    static func rpm(_ field: YAMLValue, into collector: inout ProblemCollector) -> RpmConfig {
        var rpm = RpmConfig()
        for (key, value) in collector.entries(field, "rpm") {
            switch key {
            case "packages": rpm.packages = collector.attempt { () throws(LayerProblem) in try value.strings("rpm.packages") } ?? []
            case "copr": rpm.copr = collector.attempt { () throws(LayerProblem) in try value.strings("rpm.copr") } ?? []
            case "exclude": rpm.exclude = collector.attempt { () throws(LayerProblem) in try value.strings("rpm.exclude") } ?? []
            case "options": rpm.options = collector.attempt { () throws(LayerProblem) in try value.strings("rpm.options") } ?? []
            case "repos":
                for item in collector.attempt({ () throws(LayerProblem) in try value.items("rpm.repos") }) ?? [] {
                    var name: String?, url: String?, gpgkey: String?
                    for (repoKey, repoValue) in collector.entries(item, "rpm.repos entry") {
                        switch repoKey {
                        case "name": name = collector.attempt { () throws(LayerProblem) in try repoValue.string("rpm.repos name") }
                        case "url": url = collector.attempt { () throws(LayerProblem) in try repoValue.string("rpm.repos url") }
                        case "gpgkey": gpgkey = collector.attempt { () throws(LayerProblem) in try repoValue.string("rpm.repos gpgkey") }
                        default: collector.add(repoValue.problem("unknown key \(repoKey.debugDescription) in an rpm.repos entry (known: name, url, gpgkey)"))
                        }
                    }
                    guard let name, let url else {
                        collector.add(item.problem("an rpm.repos entry needs name and url"))
                        continue
                    }
                    rpm.repos.append(RpmRepo(name: name, url: url, gpgkey: gpgkey))
                }
            default:
                collector.add(value.problem("unknown key \(key.debugDescription) in rpm (known: packages, copr, repos, exclude, options)"))
            }
        }
        return rpm
    }
}
