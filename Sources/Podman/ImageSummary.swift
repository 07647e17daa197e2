// The fields of `podman images --format json` that podman-bootc uses.

import Foundation

public struct ImageSummary: Codable, Sendable, Equatable {
    public var id: String
    public var names: [String]?
    public var labels: [String: String]?
    public var size: UInt64?
    public var created: Int64?

    enum CodingKeys: String, CodingKey {
        case id = "Id"
        case names = "Names"
        case labels = "Labels"
        case size = "Size"
        case created = "Created"
    }

    public static func decode(_ json: String) throws -> [ImageSummary] {
        try JSONDecoder().decode([ImageSummary].self, from: Data(json.utf8))
    }

    /// Labelled as a bootc image.
    public var isBootc: Bool { labels?["containers.bootc"] == "1" }
}

extension PodmanArguments {
    public static let listImages = ["podman", "images", "--format", "json"]
}

extension Podman {
    public func images() async throws -> [ImageSummary] {
        let output = try await runner.check(command(PodmanArguments.listImages))
        do {
            return try ImageSummary.decode(output)
        } catch {
            throw PodmanError.unexpectedOutput(command: "podman images", detail: "\(error)")
        }
    }
}
