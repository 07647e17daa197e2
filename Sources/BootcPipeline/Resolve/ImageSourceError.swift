// Why a `run` target could not be resolved: its project (images.yml) was refused or broken.

import BootcCore

struct ImageSourceError: ToolError {
    var message: String

    /// Bad input, as a broken project is when it is built.
    var exitCode: Int32 { ExitStatus.usage }
    var description: String { message }
}
