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

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case digest = "Digest"
        case repoTags = "RepoTags"
        case size = "Size"
        case architecture = "Architecture"
        case os = "Os"
        case labels = "Labels"
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
