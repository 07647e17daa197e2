// VM IDs and readable default names.

import Foundation

package enum VMNames {
    /// 12 random hex digits: the VM's ID.
    static func newID() -> String {
        (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// "<image name>-<first 4 of the ID>", e.g. "podman-bootc-test-3f2a".
    static func defaultName(image: String, id: String) -> String {
        var base = image.split(separator: "/").last.map(String.init) ?? image
        if let at = base.firstIndex(of: "@") { base = String(base[..<at]) }
        if let colon = base.firstIndex(of: ":") { base = String(base[..<colon]) }
        base = String(base.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "-" })
        if base.isEmpty || !(base.first!.isLetter || base.first!.isNumber) { base = "vm" }
        return "\(base.prefix(40))-\(id.prefix(4))"
    }

    /// Names become libvirt domain names and folder names: keep them to a safe alphabet.
    package static func isValid(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first.isNumber, name.count <= 64 else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }
}
