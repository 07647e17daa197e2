// The identity of an installed disk: everything that changes its bytes, hashed.

import BootcCore
import Crypto
import Foundation

public struct CacheKeyInputs: Codable, Equatable, Sendable {
    /// Bumped whenever the installer's output for the same inputs changes.
    public static let currentFormat = 1

    public var format: Int
    public var imageID: String
    public var imageDigest: String?
    public var reference: String
    public var installer: String
    public var diskSize: UInt64
    public var architecture: Architecture

    public init(imageID: String, imageDigest: String?, reference: String, installer: String,
                diskSize: UInt64, architecture: Architecture) {
        self.format = Self.currentFormat
        self.imageID = imageID
        self.imageDigest = imageDigest
        self.reference = reference
        self.installer = installer
        self.diskSize = diskSize
        self.architecture = architecture
    }

    /// Canonical JSON: sorted keys, no extra whitespace, so equal inputs hash equally everywhere.
    public var canonicalJSON: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try! encoder.encode(self)
    }

    /// sha256 of the canonical JSON, hex.
    public var key: String {
        SHA256.hash(data: canonicalJSON).map { String(format: "%02x", $0) }.joined()
    }
}
