// Durations as users write them on the command line: "90", "90s", "5m", "1h30m".

public enum DurationParser {
    /// Parses a sequence of number+unit pairs (h, m, s, ms); a bare number means seconds.
    public static func parse(_ text: String) -> Duration? {
        if let seconds = Double(text), seconds >= 0 { return .milliseconds(Int64(seconds * 1000)) }
        var total: Duration = .zero
        var rest = Substring(text)
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let number = rest.prefix(while: { $0.isNumber || $0 == "." })
            guard let value = Double(number), value >= 0 else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix(while: \.isLetter)
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "h": total += .milliseconds(Int64(value * 3_600_000))
            case "m": total += .milliseconds(Int64(value * 60_000))
            case "s": total += .milliseconds(Int64(value * 1000))
            case "ms": total += .milliseconds(Int64(value))
            default: return nil
            }
        }
        return total
    }
}

extension Duration {
    /// Whole seconds, for messages.
    public var wholeSeconds: Int64 { components.seconds }
}
