// The Containerfile of an image, in the order the `ov` generator emits it. Pure text from
// values: byte-identical on every run.

import Foundation

public struct GeneratedImage: Sendable, Equatable {
    public var name: String
    /// `.build/<image>/Containerfile`
    public var containerfile: String
    /// `.build/<image>/traefik-routes.yml`, when the image has route layers.
    public var traefikRoutes: String?
    /// `.build/<image>/fragments/<layer>.conf`, for service layers.
    public var serviceFragments: [(layer: String, text: String)]

    public static func == (a: GeneratedImage, b: GeneratedImage) -> Bool {
        a.name == b.name && a.containerfile == b.containerfile && a.traefikRoutes == b.traefikRoutes
            && a.serviceFragments.map(\.layer) == b.serviceFragments.map(\.layer) && a.serviceFragments.map(\.text) == b.serviceFragments.map(\.text)
    }
}

public enum ContainerfileGenerator {
    public static let pixiImage = "ghcr.io/prefix-dev/pixi:latest"

    public static func generate(_ image: ResolvedImage, project: Project) -> GeneratedImage {
        let layers = image.resolvedLayers.compactMap { project.layers[$0] }
        let uid = image.uid, gid = image.gid, home = image.home
        var x = "# .build/\(image.name)/Containerfile (generated -- do not edit)\n"
        x += "ARG BASE_IMAGE=\(image.baseReference)\n"

        for layer in layers {
            x += "\nFROM scratch AS \(layer.name)\nCOPY layers/\(layer.name)/ /\n"
        }
        let pixiLayers = layers.filter { $0.pixiManifest != nil }
        for layer in pixiLayers {
            let manifest = layer.pixiManifest!
            x += "\nFROM \(pixiImage) AS \(layer.name)-pixi-build\n"
            x += "WORKDIR \(home)\n"
            x += "COPY --from=\(layer.name) /\(manifest.rawValue) \(home)/\(manifest.rawValue)\n"
            switch manifest {
            case .pyprojectToml: x += "RUN pixi install --manifest-path pyproject.toml\n"
            case .environmentYml: x += "RUN pixi project import environment.yml && pixi install\n"
            default: x += "RUN pixi install\n"
            }
        }
        let routeLayers = layers.filter { $0.config.route != nil }
        if !routeLayers.isEmpty {
            x += "\nFROM scratch AS traefik-routes\nCOPY .build/\(image.name)/traefik-routes.yml /routes.yml\n"
        }
        let serviceLayers = layers.filter { $0.config.service != nil }
        if !serviceLayers.isEmpty {
            x += "\nFROM scratch AS supervisord-conf\nCOPY .build/\(image.name)/fragments/ /fragments/\n"
        }

        x += "\nFROM ${BASE_IMAGE}\n"
        if image.baseIsImage {
            x += "USER root\n"
        } else {
            x += "USER root\n"
            if layers.contains(where: { $0.files.contains(.rootYml) || $0.files.contains(.userYml) }) {
                // root.yml and user.yml are Taskfiles.
                x += "RUN command -v task >/dev/null 2>&1 || sh -c \"$(curl -fsSL https://taskfile.dev/install.sh)\" -- -d -b /usr/local/bin\n"
            }
            x += "RUN getent passwd \(uid) >/dev/null 2>&1 || \\\n"
            x += "    (getent group \(gid) >/dev/null 2>&1 || groupadd -g \(gid) \(image.user) && \\\n"
            x += "     useradd -m -u \(uid) -g \(gid) -s /bin/bash \(image.user))\n"
            x += "WORKDIR \(home)\n"
        }

        let (env, path) = mergedEnvironment(layers, home: home)
        for (key, value) in env { x += "ENV \(key)=\(quoted(value))\n" }
        if !path.isEmpty { x += "ENV PATH=\(quoted("${PATH}:" + path.joined(separator: ":")))\n" }
        let ports = Set(layers.flatMap { $0.config.ports.compactMap { Int($0) } }).sorted()
        for port in ports { x += "EXPOSE \(port)\n" }
        for layer in pixiLayers {
            x += "COPY --from=\(layer.name)-pixi-build --chown=\(uid):\(gid) \(home)/.pixi/envs/default \(home)/.pixi/envs/default\n"
        }
        if let first = pixiLayers.first {
            x += "COPY --from=\(first.name)-pixi-build /usr/local/bin/pixi /usr/local/bin/pixi\n"
        }

        let packageCache = image.pkg == "deb"
            ? ["--mount=type=cache,dst=/var/cache/apt,sharing=locked", "--mount=type=cache,dst=/var/lib/apt,sharing=locked"]
            : ["--mount=type=cache,dst=/var/cache/libdnf5,sharing=locked"]
        for layer in layers {
            var steps: [(user: Bool, text: String)] = []
            if image.pkg == "rpm", let rpm = layer.config.rpm, !rpm.packages.isEmpty {
                steps.append((false, run(packageCache, rpmInstall(rpm))))
            }
            if image.pkg == "deb", let packages = layer.config.deb, !packages.isEmpty {
                steps.append((false, run(packageCache, "apt-get update && apt-get install -y --no-install-recommends " + packages.joined(separator: " "))))
            }
            let context = "--mount=type=bind,from=\(layer.name),source=/,target=/ctx"
            if layer.files.contains(.rootYml) {
                steps.append((false, run([context] + packageCache, "cd /ctx && task -t root.yml install")))
            }
            let npmCache = "--mount=type=cache,dst=\(home)/.cache/npm,uid=\(uid),gid=\(gid)"
            if layer.files.contains(.packageJson) {
                steps.append((true, run([context, npmCache], "npm install -g /ctx")))
            }
            if layer.files.contains(.cargoToml) {
                // cargo writes target/ next to the sources: the bind mount must be writable.
                steps.append((true, run([context + ",rw", "--mount=type=cache,dst=\(home)/.cargo/registry,uid=\(uid),gid=\(gid)"],
                                        "cargo install --path /ctx")))
            }
            if layer.files.contains(.userYml) {
                steps.append((true, run([context, npmCache], "cd /ctx && task -t user.yml install")))
            }
            guard !steps.isEmpty else { continue }
            x += "\n# layer \(layer.name)\n"
            var asUser = false
            for step in steps {
                if step.user && !asUser { x += "USER \(uid)\n"; asUser = true }
                if !step.user && asUser { x += "USER root\n"; asUser = false }
                x += step.text
            }
            if asUser { x += "USER root\n" }
        }
        if !serviceLayers.isEmpty {
            x += "\nRUN --mount=type=bind,from=supervisord-conf,source=/fragments,target=/fragments cat /fragments/*.conf > /etc/supervisord.conf\n"
        }
        if !routeLayers.isEmpty {
            x += "\nCOPY --from=traefik-routes /routes.yml /etc/traefik/dynamic/routes.yml\n"
        }
        x += "\nUSER \(uid)\n"
        if image.bootc { x += "RUN bootc container lint\n" }

        let routes = routeLayers.isEmpty ? nil : traefikRoutes(routeLayers)
        let fragments = serviceLayers.map { (layer: $0.name, text: $0.config.service!.hasSuffix("\n") ? $0.config.service! : $0.config.service! + "\n") }
        return GeneratedImage(name: image.name, containerfile: x, traefikRoutes: routes, serviceFragments: fragments)
    }

    /// Layer env merged in layer order (later wins), sorted by name; path_append accumulated.
    /// `~` and `$HOME` become the image's home folder.
    static func mergedEnvironment(_ layers: [Layer], home: String) -> ([(String, String)], [String]) {
        var env: [String: String] = [:]
        var path: [String] = []
        func expand(_ value: String) -> String {
            var result = value.replacingOccurrences(of: "$HOME", with: home).replacingOccurrences(of: "${HOME}", with: home)
            if result == "~" { result = home } else if result.hasPrefix("~/") { result = home + result.dropFirst() }
            return result
        }
        for layer in layers {
            for (key, value) in layer.config.env { env[key] = expand(value) }
            for entry in layer.config.pathAppend where !path.contains(expand(entry)) { path.append(expand(entry)) }
        }
        return (env.sorted { $0.key < $1.key }, path)
    }

    static func rpmInstall(_ rpm: RpmConfig) -> String {
        var parts: [String] = []
        for repo in rpm.repos {
            var add = "dnf5 config-manager addrepo --id=\(repo.name) --set=baseurl=\(repo.url) --set=enabled=0"
            if let key = repo.gpgkey { add += " --set=gpgkey=\(key) && rpm --import \(key)" }
            parts.append(add)
        }
        for copr in rpm.copr { parts.append("dnf copr enable -y \(copr)") }
        var install = "dnf install -y"
        for repo in rpm.repos { install += " --enable-repo=\(repo.name)" }
        for pattern in rpm.exclude { install += " --exclude=\(pattern)" }
        for option in rpm.options { install += " \(option)" }
        install += " " + rpm.packages.joined(separator: " ")
        parts.append(install)
        for copr in rpm.copr { parts.append("dnf copr disable -y \(copr)") }
        return parts.joined(separator: " && \\\n    ")
    }

    static func run(_ mounts: [String], _ command: String) -> String {
        var text = "RUN"
        for mount in mounts { text += " \(mount) \\\n   " }
        return text + " " + command + "\n"
    }

    /// A Containerfile string in double quotes (ENV values).
    static func quoted(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static func traefikRoutes(_ layers: [Layer]) -> String {
        var routers = "http:\n  routers:\n"
        var services = "  services:\n"
        for layer in layers.sorted(by: { $0.name < $1.name }) {
            guard let route = layer.config.route, let host = route.host, let port = route.port else { continue }
            routers += "    \(layer.name):\n      rule: \"Host(`\(host)`)\"\n      service: \(layer.name)\n"
            services += "    \(layer.name):\n      loadBalancer:\n        servers:\n          - url: \"http://127.0.0.1:\(port)\"\n"
        }
        return "# traefik dynamic configuration (generated -- do not edit)\n" + routers + services
    }
}
