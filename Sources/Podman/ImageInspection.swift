// The fields of `podman image inspect` JSON that podman-bootc uses.

import Foundation

public struct ImageInspection: Codable, Sendable, Equatable {
    public var id: String
    public var digest: String?
    public var repoTags: [String]?
    public var size: UInt64?
    public var architecture: String?
    public var os: String?
    public var labels: [String: String]?
    /// The image's layers, bottom first (diff IDs).
    public var rootFS: RootFS?
    /// Where the storage driver keeps the layers' files.
    public var graphDriver: GraphDriver?

    public struct RootFS: Codable, Sendable, Equatable {
        public var layers: [String]?
        enum CodingKeys: String, CodingKey { case layers = "Layers" }
        public init(layers: [String]?) { self.layers = layers }
    }

    public struct GraphDriver: Codable, Sendable, Equatable {
        public var name: String
        public var data: [String: String]?
        enum CodingKeys: String, CodingKey { case name = "Name", data = "Data" }
        public init(name: String, data: [String: String]?) {
            self.name = name
            self.data = data
        }

        /// The overlay driver's folder of each layer's own files, bottom first (nil for other
        /// drivers, which keep no per-layer folder).
        public var overlayLayerFolders: [String]? {
            guard name == "overlay", let upper = data?["UpperDir"], !upper.isEmpty else { return nil }
            let lower = (data?["LowerDir"] ?? "").split(separator: ":").map(String.init)
            return ([upper] + lower).reversed()
        }
    }

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case digest = "Digest"
        case repoTags = "RepoTags"
        case size = "Size"
        case architecture = "Architecture"
        case os = "Os"
        case labels = "Labels"
        case rootFS = "RootFS"
        case graphDriver = "GraphDriver"
    }

    public init(id: String, digest: String? = nil, repoTags: [String]? = nil, size: UInt64? = nil,
                architecture: String? = nil, os: String? = nil, labels: [String: String]? = nil) {
        self.id = id
        self.digest = digest
        self.repoTags = repoTags
        self.size = size
        self.architecture = architecture
        self.os = os
        self.labels = labels
    }

    /// Decodes the array `podman image inspect --format json` prints.
    public static func decode(_ json: String) throws -> [ImageInspection] {
        try JSONDecoder().decode([ImageInspection].self, from: Data(json.utf8))
    }
}
