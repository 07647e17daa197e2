// Inheritance (image -> defaults -> fallback), image bases, and the layer dependency graph:
// transitive, topologically sorted, layers of a base image skipped, cycles with their path.

import Foundation

/// An image with every setting decided.
public struct ResolvedImage: Sendable, Equatable, Encodable {
    public var name: String
    public var enabled: Bool
    /// The external base reference, or the name of another image in images.yml.
    public var base: String
    public var baseIsImage: Bool
    /// What `ARG BASE_IMAGE` says: the base image's full reference.
    public var baseReference: String
    public var bootc: Bool
    public var platforms: [String]
    public var tag: String
    public var registry: String
    public var pkg: String
    public var ports: [String]
    public var user: String
    public var uid: Int
    public var gid: Int
    public var home: String
    public var mergeAuto: Bool
    public var mergeMaxMB: Int
    /// As listed in images.yml.
    public var layers: [String]
    /// Every layer this image installs itself: dependencies first, base image's layers left out.
    public var resolvedLayers: [String]
    /// Layers of the images this one is built on, nearest first (computed once per chain:
    /// walking the chain again for every image made long chains exponential).
    public var inheritedLayers: [String] = []

    /// registry/name:tag, with `auto` tags resolved to `latest` (the alias CalVer tags get),
    /// so generated files stay byte-identical between runs.
    public var reference: String {
        (registry.isEmpty ? "" : registry + "/") + name + ":" + (tag == "auto" ? "latest" : tag)
    }
}

public enum Fallback {
    public static let base = "quay.io/fedora/fedora:43"
    public static let platforms = ["linux/amd64", "linux/arm64"]
    public static let tag = "auto"
    public static let pkg = "rpm"
    public static let user = "user"
    public static let uid = 1000
    public static let gid = 1000
    public static let mergeMaxMB = 128
}

/// A dependency cycle, as the path that closes it (first element repeated at the end).
public struct Cycle: Error, Equatable, Sendable {
    public var path: [String]
}

public enum LayerGraph {
    /// Depth-first post-order over `roots` in the given order: each node after everything it
    /// depends on, each once. Missing nodes are reported through `missing`, not followed.
    public static func order(roots: [String], edges: (String) -> [String]?, missing: (String, String?) -> Void) throws(Cycle) -> [String] {
        var done: Set<String> = []
        var onPath: [String] = []
        var result: [String] = []
        func visit(_ node: String, from parent: String?) throws(Cycle) {
            if done.contains(node) { return }
            if let start = onPath.firstIndex(of: node) { throw Cycle(path: Array(onPath[start...]) + [node]) }
            guard let next = edges(node) else {
                missing(node, parent)
                done.insert(node)
                return
            }
            onPath.append(node)
            for child in next { try visit(child, from: node) }
            onPath.removeLast()
            done.insert(node)
            result.append(node)
        }
        for root in roots { try visit(root, from: nil) }
        return result
    }
}

/// The images being resolved, base after base: membership in constant time (a chain is
/// walked at every step), the order kept to show a cycle.
struct BasePath {
    private var names: [String] = []
    private var members: Set<String> = []

    mutating func push(_ name: String) {
        names.append(name)
        members.insert(name)
    }

    mutating func pop() {
        members.remove(names.removeLast())
    }

    /// The cycle `name` would close (it repeated at the end), nil when it is not on the path.
    func cycle(closedBy name: String) -> [String]? {
        guard members.contains(name), let start = names.firstIndex(of: name) else { return nil }
        return Array(names[start...]) + [name]
    }
}

/// One pass of resolving: the images resolved so far, and the chain being resolved. Images
/// that share bases share their resolution (each resolving its whole chain again made a
/// pass over a chain of N images quadratic in N).
public struct ResolutionMemo {
    var resolved: [String: ResolvedImage] = [:]
    var visiting = BasePath()

    public init() {}
}

extension Project {
    public var enabledImageNames: [String] {
        images.images.filter { ($0.settings.enabled ?? images.defaults.enabled ?? true) }.map(\.name)
    }

    public func entry(_ name: String) -> ImageEntry? { images.entry(name) }

    /// The image's settings through image -> defaults -> fallback. Throws for an unknown
    /// image or a cycle of bases; layer problems are left to validation.
    public func resolve(_ name: String) throws(LayerProblem) -> ResolvedImage {
        var memo = ResolutionMemo()
        return try resolve(name, memo: &memo)
    }

    /// `resolve` within a pass over several images: bases already resolved in `memo` are reused.
    public func resolve(_ name: String, memo: inout ResolutionMemo) throws(LayerProblem) -> ResolvedImage {
        if let resolved = memo.resolved[name] { return resolved }
        guard let entry = entry(name) else {
            throw LayerProblem(file: images.path, line: nil, message: "no image \(name.debugDescription) in images.yml (see `podman-bootc layers list images`)")
        }
        if let cycle = memo.visiting.cycle(closedBy: name) {
            throw LayerProblem(file: images.path, line: entry.line, message: "image bases form a cycle: \(cycle.joined(separator: " -> "))")
        }
        memo.visiting.push(name)
        defer { memo.visiting.pop() }
        let s = entry.settings, d = images.defaults
        let base = s.base ?? d.base ?? Fallback.base
        let baseIsImage = self.entry(base) != nil
        var parent: ResolvedImage?
        if baseIsImage { parent = try resolve(base, memo: &memo) }
        // An image built on another image inherits its user context.
        let user = s.user ?? parent?.user ?? d.user ?? Fallback.user
        var resolved = ResolvedImage(
            name: name, enabled: s.enabled ?? d.enabled ?? true, base: base, baseIsImage: baseIsImage,
            baseReference: parent?.reference ?? base, bootc: s.bootc ?? d.bootc ?? false,
            platforms: s.platforms ?? d.platforms ?? Fallback.platforms, tag: Self.tag(s.tag ?? d.tag ?? Fallback.tag, override: tagOverride),
            registry: s.registry ?? d.registry ?? "", pkg: s.pkg ?? d.pkg ?? Fallback.pkg, ports: s.ports ?? [],
            user: user, uid: s.uid ?? parent?.uid ?? d.uid ?? Fallback.uid, gid: s.gid ?? parent?.gid ?? d.gid ?? Fallback.gid,
            home: parent?.home ?? "/home/\(user)",
            mergeAuto: s.merge?.auto ?? d.merge?.auto ?? false, mergeMaxMB: s.merge?.maxMB ?? d.merge?.maxMB ?? Fallback.mergeMaxMB,
            layers: entry.layers ?? [], resolvedLayers: [])
        let parentLayers = parent.map(self.allLayers(of:)) ?? []
        resolved.inheritedLayers = parentLayers
        let inherited = Set(parentLayers)
        do {
            resolved.resolvedLayers = try LayerGraph.order(roots: resolved.layers, edges: { layers[$0]?.config.depends }, missing: { _, _ in })
                .filter { !inherited.contains($0) }
        } catch {
            throw LayerProblem(file: images.path, line: entry.line, message: "layer dependencies form a cycle: \(error.path.joined(separator: " -> "))")
        }
        memo.resolved[name] = resolved
        return resolved
    }

    static func tag(_ tag: String, override: String?) -> String {
        tag == "auto" ? (override ?? tag) : tag
    }

    /// Layers an image has, its own and its bases'.
    func allLayers(of image: ResolvedImage) -> [String] {
        image.resolvedLayers + image.inheritedLayers
    }

    /// Images in build order: every image after the image it is based on.
    public func buildOrder(_ names: [String]) throws(Cycle) -> [String] {
        try LayerGraph.order(roots: names, edges: { name in
            guard let entry = self.entry(name) else { return nil }
            let base = entry.settings.base ?? self.images.defaults.base ?? Fallback.base
            return self.entry(base) != nil ? [base] : []
        }, missing: { _, _ in })
    }
}
