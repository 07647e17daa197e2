// One word of a kernel command line, as --karg and an image's kargs.d give it. The kernel
// splits its command line at spaces, and a double quote left open runs on over the arguments
// after it; a
// control character (a newline among them) ends up in /proc/cmdline and in every tool that
// reads it line by line. None of them can be part of one argument.

public enum KernelArgument {
    /// The whole command line is at most 2048 bytes on x86 (COMMAND_LINE_SIZE).
    public static let maximumLength = 1024

    /// Why `argument` cannot be one kernel argument; nil when it can.
    public static func problem(with argument: String) -> String? {
        if argument.isEmpty { return "it is empty" }
        if argument.utf8.count > maximumLength { return "it is longer than \(maximumLength) bytes" }
        if argument.unicodeScalars.count(where: { $0 == "\"" }) % 2 == 1 {
            return "it leaves a double quote open (the kernel would read the arguments after it as part of it)"
        }
        for scalar in argument.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator:
                return "it has the control character U+\(hex(scalar))"
            case .spaceSeparator:
                return "it has a space (U+\(hex(scalar)))"
            default:
                if scalar.properties.isWhitespace { return "it has a space (U+\(hex(scalar)))" }
            }
        }
        return nil
    }

    public static func isValid(_ argument: String) -> Bool { problem(with: argument) == nil }

    private static func hex(_ scalar: Unicode.Scalar) -> String {
        let digits = String(scalar.value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
