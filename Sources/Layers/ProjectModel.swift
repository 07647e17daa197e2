// images.yml and layers/<name>/layer.yml as values: what the files say, before inheritance
// and dependency resolution.

import Foundation

/// Settings an image may set and `defaults` may supply (image -> defaults -> fallback).
public struct ImageSettings: Sendable, Equatable {
    public var enabled: Bool?
    public var base: String?
    public var bootc: Bool?
    public var platforms: [String]?
    public var tag: String?
    public var registry: String?
    public var pkg: String?
    public var ports: [String]?
    public var user: String?
    public var uid: Int?
    public var gid: Int?
    public var merge: MergeSettings?

    public init() {}
}

public struct MergeSettings: Sendable, Equatable {
    public var auto: Bool?
    public var maxMB: Int?
}

/// One entry under `images:`.
public struct ImageEntry: Sendable, Equatable {
    public var name: String
    public var line: Int?
    public var settings: ImageSettings
    /// Required and never inherited.
    public var layers: [String]?
}

public struct ImagesFile: Sendable, Equatable {
    public var path: String
    public var defaults: ImageSettings
    public var images: [ImageEntry] { didSet { positions = Self.positions(of: images) } }
    /// Where each name is first listed: resolving walks base chains by name, and a scan of the
    /// list at every step made resolving all images of a chain cubic in its length.
    private var positions: [String: Int]

    public init(path: String, defaults: ImageSettings, images: [ImageEntry]) {
        self.path = path
        self.defaults = defaults
        self.images = images
        self.positions = Self.positions(of: images)
    }

    public func entry(_ name: String) -> ImageEntry? { positions[name].map { images[$0] } }

    private static func positions(of images: [ImageEntry]) -> [String: Int] {
        var positions: [String: Int] = [:]
        for (index, image) in images.enumerated() where positions[image.name] == nil { positions[image.name] = index }
        return positions
    }
}

public struct RpmRepo: Sendable, Equatable {
    public var name: String
    public var url: String
    public var gpgkey: String?
}

public struct RpmConfig: Sendable, Equatable {
    public var packages: [String] = []
    public var copr: [String] = []
    public var repos: [RpmRepo] = []
    public var exclude: [String] = []
    public var options: [String] = []
}

public struct Route: Sendable, Equatable {
    public var host: String?
    public var port: String?
}

/// layer.yml.
public struct LayerConfig: Sendable, Equatable {
    public var depends: [String] = []
    /// In file order; later layers override earlier ones key by key.
    public var env: [(key: String, value: String)] = []
    public var pathAppend: [String] = []
    public var ports: [String] = []
    public var route: Route?
    public var service: String?
    public var rpm: RpmConfig?
    public var deb: [String]?
    public var line: [String: Int] = [:]

    public init() {}

    public static func == (a: LayerConfig, b: LayerConfig) -> Bool {
        a.depends == b.depends && a.env.map(\.key) == b.env.map(\.key) && a.env.map(\.value) == b.env.map(\.value)
            && a.pathAppend == b.pathAppend && a.ports == b.ports && a.route == b.route && a.service == b.service
            && a.rpm == b.rpm && a.deb == b.deb
    }
}

/// The install files a layer folder can hold, in the order their steps run.
public enum InstallFile: String, Sendable, CaseIterable, Comparable {
    case rootYml = "root.yml"
    case pixiToml = "pixi.toml"
    case pyprojectToml = "pyproject.toml"
    case environmentYml = "environment.yml"
    case packageJson = "package.json"
    case cargoToml = "Cargo.toml"
    case userYml = "user.yml"

    public static func < (a: InstallFile, b: InstallFile) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    static let pixiManifests: [InstallFile] = [.pixiToml, .pyprojectToml, .environmentYml]
}

/// A folder under layers/.
public struct Layer: Sendable, Equatable {
    public var name: String
    public var folder: String
    public var config: LayerConfig
    public var files: Set<InstallFile>
    public var hasSourceFolder: Bool
    /// layer.yml's path, when there is one.
    public var configFile: String?

    /// pixi.toml, else pyproject.toml, else environment.yml (the seed's priority).
    public var pixiManifest: InstallFile? { InstallFile.pixiManifests.first { files.contains($0) } }
}
