// Every rule of the layer system, checked at once: all problems are reported in one run.

import Foundation

extension Project {
    /// Problems in the project (reading problems first), sorted by file and line.
    public func validate() -> [LayerProblem] {
        var problems = readProblems
        let imagesFile = images.path
        let enabled = Set(enabledImageNames)
        var memo = ResolutionMemo()

        for (name, layer) in layers.sorted(by: { $0.key < $1.key }) {
            problems += validate(layer: layer, named: name)
        }
        for entry in images.images where enabled.contains(entry.name) {
            func problem(_ message: String) { problems.append(LayerProblem(file: imagesFile, line: entry.line, message: "image \(entry.name): \(message)")) }
            let settings = entry.settings
            if !Self.isName(entry.name) { problem("the name must be lower-case letters, digits and hyphens") }
            for value in [settings.base, settings.registry, settings.tag, images.defaults.base, images.defaults.registry].compactMap({ $0 }) where !Self.isToken(value) {
                problem("\(value.debugDescription) must be an image reference, registry or tag without spaces or shell characters")
            }
            // The tag as it will be used: the image's, the defaults', or --tag for `auto`.
            let tag = Self.tag(settings.tag ?? images.defaults.tag ?? Fallback.tag, override: tagOverride)
            if !Self.isTag(tag) {
                problem("tag \(tag.debugDescription) must be letters, digits, _, . and - (at most 128, not starting with . or -)")
            }
            for (what, id) in [("uid", settings.uid ?? images.defaults.uid), ("gid", settings.gid ?? images.defaults.gid)] {
                if let id, !(0...65534).contains(id) { problem("\(what) \(id) must be from 0 to 65534") }
            }
            if let user = settings.user ?? images.defaults.user, !Self.isName(user.replacingOccurrences(of: "_", with: "-")) {
                problem("user \(user.debugDescription) must be a lower-case user name")
            }
            let pkg = settings.pkg ?? images.defaults.pkg ?? Fallback.pkg
            if pkg != "rpm" && pkg != "deb" { problem("pkg must be \"rpm\" or \"deb\", not \(pkg.debugDescription)") }
            if let maxMB = settings.merge?.maxMB ?? images.defaults.merge?.maxMB, maxMB <= 0 { problem("merge.max_mb must be greater than 0") }
            for port in settings.ports ?? [] where !Self.isImagePort(port) {
                problem("port \(port.debugDescription) must be \"PORT\" or \"HOST:CONTAINER\" with numbers from 1 to 65535")
            }
            guard let listed = entry.layers, !listed.isEmpty else {
                problem("needs a layers: list (layers are not inherited from defaults)")
                continue
            }
            for name in listed where layers[name] == nil {
                problem("layer \(name.debugDescription) does not exist (no folder layers/\(name)); create it with `podman-bootc layers new layer \(name)`")
            }
            let base = settings.base ?? images.defaults.base ?? Fallback.base
            if let baseEntry = self.entry(base), !(baseEntry.settings.enabled ?? images.defaults.enabled ?? true) {
                problem("its base image \(base) is disabled (enabled: false)")
            }
            let resolved: ResolvedImage
            do { resolved = try resolve(entry.name, memo: &memo) } catch {
                problems.append(error)
                continue
            }
            var missingDependencies: [LayerProblem] = []
            _ = try? LayerGraph.order(roots: listed, edges: { layers[$0]?.config.depends }, missing: { name, parent in
                if let parent, let layer = layers[parent] {
                    missingDependencies.append(LayerProblem(file: layer.configFile ?? layer.folder, line: layer.config.line["depends"],
                                                            message: "layer \(parent) depends on \(name.debugDescription), which does not exist"))
                }
            })
            problems += missingDependencies
            let all = Set(allLayers(of: resolved))
            if all.contains(where: { layers[$0]?.config.route != nil }) && !all.contains("traefik") {
                problem("has layers with a route but not the traefik layer; add traefik to its layers")
            }
        }
        do {
            _ = try LayerGraph.order(roots: layers.keys.sorted(), edges: { layers[$0]?.config.depends }, missing: { _, _ in })
        } catch {
            problems.append(LayerProblem(file: layers[error.path[0]]?.configFile ?? imagesFile, line: layers[error.path[0]]?.config.line["depends"],
                                         message: "layer dependencies form a cycle: \(error.path.joined(separator: " -> "))"))
        }
        do { _ = try buildOrder(images.images.map(\.name)) } catch {
            problems.append(LayerProblem(file: imagesFile, line: nil, message: "image bases form a cycle: \(error.path.joined(separator: " -> "))"))
        }
        // One problem per fact: a base cycle is found from every image on it.
        var seen: Set<String> = []
        return problems.filter { seen.insert($0.description).inserted }.sorted()
    }

    func validate(layer: Layer, named name: String) -> [LayerProblem] {
        var problems: [LayerProblem] = []
        let config = layer.config
        let file = layer.configFile ?? layer.folder
        func problem(_ key: String?, _ message: String) {
            problems.append(LayerProblem(file: file, line: key.flatMap { config.line[$0] }, message: "layer \(name): \(message)"))
        }
        // Everything below ends up in Containerfile text: only values that cannot break out.
        if !Self.isName(name) { problems.append(LayerProblem(file: layer.folder, line: nil, message: "layer name \(name.debugDescription) must be lower-case letters, digits and hyphens")) }
        for dependency in config.depends where !Self.isName(dependency) { problem("depends", "dependency \(dependency.debugDescription) is not a layer name") }
        let packages = (config.rpm?.packages ?? []) + (config.deb ?? []) + (config.rpm?.exclude ?? [])
        for package in packages where !Self.isToken(package) { problem(config.rpm != nil ? "rpm" : "deb", "package \(package.debugDescription) is not a package name or pattern") }
        for copr in config.rpm?.copr ?? [] where !Self.isToken(copr) || copr.split(separator: "/").count != 2 { problem("rpm", "copr \(copr.debugDescription) must be owner/project") }
        for repo in config.rpm?.repos ?? [] where ![repo.name, repo.url, repo.gpgkey ?? "x"].allSatisfy(Self.isToken) { problem("rpm", "repo \(repo.name.debugDescription) has a name, url or gpgkey with spaces or shell characters") }
        for option in config.rpm?.options ?? [] where !Self.isToken(option) { problem("rpm", "option \(option.debugDescription) must be one flag without spaces or shell characters") }
        for (key, value) in config.env {
            if key.isEmpty || !key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) || key.first!.isNumber {
                problem("env.\(key)", "env name \(key.debugDescription) must be letters, digits and _")
            }
            if value.contains(where: \.isNewline) { problem("env.\(key)", "env \(key) must be one line") }
        }
        for entry in config.pathAppend where entry.contains(where: { $0.isNewline || $0 == ":" }) { problem("path_append", "path_append entry \(entry.debugDescription) must be one folder (no newline or ':')") }
        if let host = config.route?.host, !host.isEmpty, !host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-") }) {
            problem("route", "route host \(host.debugDescription) must be a host name")
        }
        let hasPackages = !(config.rpm?.packages.isEmpty ?? true) || !(config.deb?.isEmpty ?? true)
        if layer.files.isEmpty && !hasPackages {
            problems.append(LayerProblem(file: layer.folder, line: nil, message: "layer \(name) has no install file: add packages to layer.yml (rpm/deb), or a root.yml, pixi.toml, pyproject.toml, environment.yml, package.json, Cargo.toml or user.yml"))
        }
        if layer.files.contains(.cargoToml) && !layer.hasSourceFolder {
            problems.append(LayerProblem(file: layer.folder + "/Cargo.toml", line: nil, message: "layer \(name): Cargo.toml needs a src/ folder beside it"))
        }
        let manifests = InstallFile.pixiManifests.filter { layer.files.contains($0) }
        if manifests.count > 1 {
            problems.append(LayerProblem(file: layer.folder, line: nil, message: "layer \(name) has \(manifests.map(\.rawValue).joined(separator: " and ")): only one pixi manifest per layer"))
        }
        if let rpm = config.rpm, rpm.packages.isEmpty {
            if !rpm.copr.isEmpty { problem("rpm", "rpm.copr needs rpm.packages (the repos are enabled only to install packages)") }
            if !rpm.repos.isEmpty { problem("rpm", "rpm.repos needs rpm.packages (the repos are enabled only to install packages)") }
        }
        for (key, _) in config.env where key == "PATH" {
            problem("env.PATH", "env must not set PATH; list the folders under path_append instead")
        }
        for port in config.ports where Int(port).map({ !(1...65535).contains($0) }) ?? true {
            problem("ports", "port \(port.debugDescription) is not a port number from 1 to 65535")
        }
        if let route = config.route {
            if route.host?.isEmpty ?? true { problem("route", "route needs a host") }
            if let port = route.port {
                if Int(port).map({ !(1...65535).contains($0) }) ?? true { problem("route", "route port \(port.debugDescription) is not a port number from 1 to 65535") }
            } else {
                problem("route", "route needs a port")
            }
        }
        return problems
    }

    /// Lower-case letters, digits and hyphens (the style of layer and image names).
    static func isName(_ name: String) -> Bool {
        !name.isEmpty && name.first != "-" && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
    }

    /// One shell word that needs no quoting: package names, patterns, flags, URLs.
    static func isToken(_ value: String) -> Bool {
        !value.isEmpty && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._+-:@/=*~,%".contains($0)) }
    }

    static func isImagePort(_ port: String) -> Bool {
        let parts = port.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 1 || parts.count == 2 else { return false }
        return parts.allSatisfy { part in
            (1...5).contains(part.count) && part.allSatisfy { $0.isASCII && $0.isNumber } && Int(part).map { (1...65535).contains($0) } ?? false
        }
    }

    /// An OCI tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    public static func isTag(_ tag: String) -> Bool {
        guard let first = tag.first, tag.count <= 128, first != ".", first != "-" else { return false }
        return tag.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }
    }
}
