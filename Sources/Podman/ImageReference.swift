// Image references as podman parses them (the distribution/reference grammar), checked
// before podman sees them: a typo gets our error and exit 64, not podman's status 125.

public enum ImageReference {
    /// `[domain[:port]/]path[:tag][@digest]`, or an image ID (hex, 3 to 64 digits).
    public static func isValid(_ reference: String) -> Bool {
        guard !reference.isEmpty, reference.utf8.count <= 512, reference.unicodeScalars.allSatisfy(\.isASCII) else { return false }
        if reference.utf8.count <= 64, reference.utf8.count >= 3, reference.allSatisfy(\.isHexDigit) { return true }
        var rest = Substring(reference)
        if let at = rest.firstIndex(of: "@") {
            guard isDigest(rest[rest.index(after: at)...]) else { return false }
            rest = rest[..<at]
        }
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            guard isTag(rest[rest.index(after: colon)...]) else { return false }
            rest = rest[..<colon]
        }
        guard rest.utf8.count <= 255 else { return false }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false)
        if components.count > 1, let first = components.first,
           first.contains(".") || first.contains(":") || first == "localhost" || first.contains(where: \.isUppercase) {
            guard isDomain(first) else { return false }
            components.removeFirst()
        }
        return !components.isEmpty && components.allSatisfy(isPathComponent)
    }

    /// `[a-z0-9]+` joined by `.`, `_`, `__` or runs of `-`.
    static func isPathComponent(_ text: Substring) -> Bool {
        guard let first = text.first, let last = text.last, isLowerAlnum(first), isLowerAlnum(last) else { return false }
        var previous: Character = first
        var underscores = 0
        for c in text.dropFirst() {
            if isLowerAlnum(c) {
                underscores = 0
            } else if c == "_" {
                underscores += 1
                guard underscores <= 2, previous == "_" || isLowerAlnum(previous) else { return false }
            } else if c == "." {
                guard isLowerAlnum(previous) else { return false }
            } else if c == "-" {
                guard isLowerAlnum(previous) || previous == "-" else { return false }
            } else {
                return false
            }
            previous = c
        }
        return true
    }

    static func isDomain(_ text: Substring) -> Bool {
        var host = text
        if let colon = text.lastIndex(of: ":") {
            let port = text[text.index(after: colon)...]
            guard !port.isEmpty, port.count <= 5, port.allSatisfy(\.isNumber), Int(port).map({ $0 <= 65535 }) ?? false else { return false }
            host = text[..<colon]
        }
        return !host.isEmpty && host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            guard let first = label.first, let last = label.last else { return false }
            return first.isLetter || first.isNumber ? (last.isLetter || last.isNumber) && label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } : false
        }
    }

    /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
    static func isTag(_ text: Substring) -> Bool {
        guard let first = text.first, text.count <= 128, first.isLetter || first.isNumber || first == "_" else { return false }
        return text.allSatisfy { $0.isLetter || $0.isNumber || "_.-".contains($0) }
    }

    /// `algorithm:hex` with at least 32 hex digits.
    static func isDigest(_ text: Substring) -> Bool {
        guard let colon = text.firstIndex(of: ":") else { return false }
        let algorithm = text[..<colon], hex = text[text.index(after: colon)...]
        return !algorithm.isEmpty && algorithm.first!.isLetter && algorithm.allSatisfy { $0.isLetter || $0.isNumber || "-_+.".contains($0) }
            && hex.count >= 32 && hex.allSatisfy(\.isHexDigit)
    }

    private static func isLowerAlnum(_ c: Character) -> Bool { (c >= "a" && c <= "z") || (c >= "0" && c <= "9") }
}
