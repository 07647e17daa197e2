// The identity of an installed disk: everything that changes its bytes, hashed.

import BootcCore
import Crypto
import Foundation

public struct CacheKeyInputs: Codable, Equatable, Sendable {
    /// Bumped whenever the installer's output for the same inputs changes.
    public static let currentFormat = 3

    public var format: Int
    public var imageID: String
    public var imageDigest: String?
    public var reference: String
    /// The installer actually used (never "auto").
    public var installer: InstallerChoice
    public var diskSize: UInt64
    public var architecture: Architecture
    public var filesystem: String?
    public var rootSize: UInt64?
    public var kernelArguments: [String]

    public init(imageID: String, imageDigest: String?, reference: String, installer: InstallerChoice,
                diskSize: UInt64, architecture: Architecture, filesystem: String? = nil, rootSize: UInt64? = nil,
                kernelArguments: [String] = []) {
        self.format = Self.currentFormat
        self.imageID = imageID
        self.imageDigest = imageDigest
        self.reference = reference
        self.installer = installer
        self.diskSize = diskSize
        self.architecture = architecture
        self.filesystem = filesystem
        self.rootSize = rootSize
        self.kernelArguments = kernelArguments
    }

    /// What differs between two inputs, in words, for "why is this reinstalled" answers.
    public func differences(from old: CacheKeyInputs) -> [String] {
        var out: [String] = []
        func note(_ what: String, _ a: String?, _ b: String?) {
            if a != b { out.append("\(what) changed (\(a ?? "none") -> \(b ?? "none"))") }
        }
        note("cache format", String(old.format), String(format))
        note("image", old.imageID, imageID)
        note("image digest", old.imageDigest, imageDigest)
        note("installer", old.installer.rawValue, installer.rawValue)
        note("disk size", ByteSize(bytes: old.diskSize).description, ByteSize(bytes: diskSize).description)
        note("architecture", old.architecture.rawValue, architecture.rawValue)
        note("filesystem", old.filesystem, filesystem)
        note("root size", old.rootSize.map { ByteSize(bytes: $0).description }, rootSize.map { ByteSize(bytes: $0).description })
        note("kernel arguments", old.kernelArguments.joined(separator: " "), kernelArguments.joined(separator: " "))
        return out
    }

    /// Canonical JSON: sorted keys, no extra whitespace, so equal inputs hash equally everywhere.
    public var canonicalJSON: Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings, integers and arrays of strings always encode: this cannot throw.
        return try! encoder.encode(self)
    }

    /// sha256 of the canonical JSON, hex.
    public var key: String {
        SHA256.hash(data: canonicalJSON).map { String(format: "%02x", $0) }.joined()
    }
}
