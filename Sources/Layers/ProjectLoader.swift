// Loads a project folder (images.yml + layers/*/) into values, collecting every problem in
// the files rather than stopping at the first.

import Foundation

public struct Project: Sendable {
    public var root: URL
    public var images: ImagesFile
    public var layers: [String: Layer]
    /// Problems found while reading (syntax, types, unknown keys); validation adds the rest.
    public var readProblems: [LayerProblem]
    /// `generate --tag`: replaces every `auto` tag.
    public var tagOverride: String?

    /// Reads `root`/images.yml (or `imagesFile`) and every folder under `root`/layers.
    public static func load(root: URL, imagesFile: URL? = nil) throws(LayerProblem) -> Project {
        let imagesURL = imagesFile ?? root.appendingPathComponent("images.yml")
        guard let text = try? String(contentsOf: imagesURL, encoding: .utf8) else {
            throw LayerProblem(file: imagesURL.path, line: nil, message: "cannot read it; run in a project folder that has an images.yml, or pass --config FILE")
        }
        var collector = ProblemCollector()
        let images = ImagesFileReader.read(file: imagesURL.path, text: text, into: &collector)
        var layers: [String: Layer] = [:]
        let layersFolder = root.appendingPathComponent("layers")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: layersFolder.path)) ?? []).sorted()
        for name in names where !name.hasPrefix(".") {
            let folder = layersFolder.appendingPathComponent(name)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else { continue }
            layers[name] = LayerReader.read(name: name, folder: folder, into: &collector)
        }
        return Project(root: root, images: images, layers: layers, readProblems: collector.problems)
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
    static func read(name: String, folder: URL, into collector: inout ProblemCollector) -> Layer {
        let fileManager = FileManager.default
        let files = Set(InstallFile.allCases.filter { fileManager.fileExists(atPath: folder.appendingPathComponent($0.rawValue).path) })
        var isFolder: ObjCBool = false
        let hasSource = fileManager.fileExists(atPath: folder.appendingPathComponent("src").path, isDirectory: &isFolder) && isFolder.boolValue
        var layer = Layer(name: name, folder: folder.path, config: LayerConfig(), files: files, hasSourceFolder: hasSource)
        let configURL = folder.appendingPathComponent("layer.yml")
        guard let text = try? String(contentsOf: configURL, encoding: .utf8) else { return layer }
        layer.configFile = configURL.path
        layer.config = config(file: configURL.path, text: text, into: &collector)
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
