// Errors of a layer-generator project, with the `layers` commands' exit codes: 1 for a
// project to fix (or a usage error), 2 for a failure of ours.

import BootcCore
import Layers

package enum LayersError: ToolError {
    case problems([LayerProblem])
    case usage(String)
    case internalError(String)

    package var exitCode: Int32 {
        switch self {
        case .problems, .usage: 1
        case .internalError: 2
        }
    }

    package var description: String {
        switch self {
        case .problems(let problems):
            // One problem per line, each with its file and line.
            guard problems.count > 1 else { return problems.first.map { "\($0)" } ?? "invalid project" }
            return "\(problems.count) problems in the project; fix them and run again:\n" + problems.map { "  \($0)" }.joined(separator: "\n")
        case .usage(let message), .internalError(let message):
            return message
        }
    }
}

