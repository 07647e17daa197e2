// Sizes as users write them ("10G", "512M", "2048") and as the tools need them.

import Foundation

public struct ByteSize: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public var bytes: UInt64

    public init(bytes: UInt64) { self.bytes = bytes }
    public static func mebibytes(_ n: UInt64) -> ByteSize { ByteSize(bytes: n << 20) }
    public static func gibibytes(_ n: UInt64) -> ByteSize { ByteSize(bytes: n << 30) }

    /// The largest size accepted anywhere (disks, memory): 1 PiB, far below where sizes
    /// doubled, rounded or passed to off_t could overflow.
    public static let maximum = ByteSize(bytes: 1 << 50)

    /// The smallest disk podman-bootc installs: a partition table, a filesystem, a kernel and
    /// its initramfs need this much before any of the image fits.
    public static let minimumDisk = ByteSize.mebibytes(64)

    /// Parses "10G", "10GiB", "512M", "4096K" or plain bytes. Suffixes are powers of 1024.
    /// Digits are ASCII only; nil above `maximum`.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        let digits = trimmed.prefix(while: { $0.isASCII && $0.isNumber })
        guard !digits.isEmpty, digits.count <= 20, let value = UInt64(digits) else { return nil }
        var unit = trimmed.dropFirst(digits.count)
        if unit.hasSuffix("IB") { unit = unit.dropLast(2) } else if unit.hasSuffix("B") { unit = unit.dropLast() }
        let shift: UInt64
        switch unit {
        case "": shift = 0
        case "K": shift = 10
        case "M": shift = 20
        case "G": shift = 30
        case "T": shift = 40
        default: return nil
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow, result <= Self.maximum.bytes else { return nil }
        self.bytes = result
    }

    public var mebibytes: UInt64 { bytes >> 20 }

    /// Rounds up to a multiple of `alignment` bytes.
    public func roundedUp(to alignment: UInt64) -> ByteSize {
        let (sum, overflow) = bytes.addingReportingOverflow(alignment - 1)
        guard !overflow else { return ByteSize(bytes: UInt64.max / alignment * alignment) }
        return ByteSize(bytes: sum / alignment * alignment)
    }

    public static func < (lhs: ByteSize, rhs: ByteSize) -> Bool { lhs.bytes < rhs.bytes }

    public var description: String {
        let units: [(UInt64, String)] = [(40, "T"), (30, "G"), (20, "M"), (10, "K")]
        for (shift, suffix) in units where bytes >= (1 << shift) && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(suffix)"
        }
        return "\(bytes)"
    }
}
