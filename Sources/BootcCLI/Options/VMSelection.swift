// The VM argument most commands take: a name or ID prefix, or --latest.

import ArgumentParser
import BootcPipeline

struct VMSelection: ParsableArguments {
    @Flag(name: [.customShort("l"), .long], help: "Use the most recently created VM.")
    var latest = false

    @Argument(help: "VM name or unique ID prefix.")
    var vm: String?

    func validate() throws {
        if latest == (vm != nil) { throw ValidationError(latest ? "give a VM or --latest, not both" : "name a VM (name or ID prefix), or pass --latest") }
    }

    var selector: VMSelector { vm.map(VMSelector.named) ?? .latest }
}
