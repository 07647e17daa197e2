// Durations as users write them on the command line: "90", "90s", "5m", "1h30m".

public enum DurationParser {
    /// The longest duration accepted: a year is longer than any sane boot or run.
    public static let maximum: Duration = .seconds(366 * 24 * 3600)

    /// Parses a sequence of number+unit pairs (h, m, s, ms); a bare number means seconds.
    /// Numbers are plain decimals (no sign, exponent, inf or nan); nil above `maximum`.
    public static func parse(_ text: String) -> Duration? {
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var totalMilliseconds = 0.0
        var rest = Substring(text)
        while !rest.isEmpty {
            let number = rest.prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") })
            guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number != ".",
                  let value = Double(number), value.isFinite else { return nil }
            rest = rest.dropFirst(number.count)
            let unit = rest.prefix(while: { $0.isASCII && $0.isLetter })
            rest = rest.dropFirst(unit.count)
            switch unit {
            case "h": totalMilliseconds += value * 3_600_000
            case "m": totalMilliseconds += value * 60_000
            case "s": totalMilliseconds += value * 1000
            case "ms": totalMilliseconds += value
            case "" where rest.isEmpty && number.count == text.count: totalMilliseconds += value * 1000
            default: return nil
            }
            guard totalMilliseconds <= Double(maximum.components.seconds) * 1000 else { return nil }
        }
        return .milliseconds(Int64(totalMilliseconds))
    }
}

extension Duration {
    /// Whole seconds, for messages.
    public var wholeSeconds: Int64 { components.seconds }
}
