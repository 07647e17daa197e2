// The identity step: a guest woken from a saved state (or the template that saved it) becomes
// a machine of its own: a new generation ID (given by the domain), fresh host randomness, its
// hostname and clock, for a kept VM its own machine-id and a re-executed sshd listener, and
// its own login keys. Either all of it holds or the caller throws the VM away.

import BootcCore
import Foundation
import Host

struct CloneIdentityError: ToolError {
    var reason: String
    var description: String { reason }
}

/// Gives a running guest its identity, through the warm-start agent when it answers, else over
/// SSH with the template's login.
struct CloneIdentity: Sendable {
    let context: PipelineContext

    /// Set (to `identity`) in tests and by developers to see a failing identity step end to
    /// end: the guest is sent an invalid machine-id, which its script refuses.
    static let faultVariable = "PODMAN_BOOTC_TEST_FAULT"

    /// Returns a verified root session that can serve the run's command.
    func give(_ identity: VMIdentity, to vm: LaunchedVM, agent: GuestAgentChannel?, templateLogin: GuestLogin) async throws -> any GuestSession {
        if let agent {
            if let session = try await give(identity, to: vm, through: agent) { return session }
            agent.close()
        }
        let session = try await SSHWaiter(context: context).waitForSSH(vm, timeout: .seconds(60), login: templateLogin, announce: false)
        context.logger.debug("identity: logged in with the template's key")
        do {
            try Self.check(try await session.run(GuestIdentityScript.overSSH, input: input(for: identity)))
        } catch {
            await session.disconnect()
            throw error
        }
        return session
    }

    /// Through the guest agent: no SSH login. The session runs commands through the agent and
    /// logs in over SSH (with the VM's own key) only for what needs it; nil when the agent does
    /// not answer.
    private func give(_ identity: VMIdentity, to vm: LaunchedVM, through agent: GuestAgentChannel) async throws -> (any GuestSession)? {
        let context = self.context
        let session = AgentSession(agent: agent, beforeSSH: identity.loginInBackground ? GuestIdentityScript.waitForLogin : nil) {
            try await SSHWaiter(context: context).waitForSSH(vm, timeout: .seconds(60), announce: false)
        }
        let result: (status: Int32, output: String)
        do {
            result = try await session.runInAgent(GuestIdentityScript.agentCall(loginInBackground: identity.loginInBackground),
                                                  input: input(for: identity), timeout: .seconds(120))
        } catch let error as GuestAgentError where !error.timedOut {
            // The request did not reach a working agent: nothing ran, SSH may give it instead.
            context.logger.info("identity: the guest agent did not answer (\(error)); using SSH")
            return nil
        }
        try Self.check(result)
        context.logger.debug("identity given through the guest agent")
        return session
    }

    /// The identity script's stdin (see GuestIdentityScript).
    func input(for identity: VMIdentity) -> Data {
        let now = Date().timeIntervalSince1970
        var machineID = identity.kept ? Self.randomHex(bytes: 16) : "-"
        if context.environment[Self.faultVariable] == "identity" { machineID = "not-a-machine-id" }
        // Names are systemd credential names we chose (a safe alphabet); values travel base64.
        let credentials = identity.publicCredentials.filter {
            ConfinedFolder.isSafeName($0.name) && !$0.name.contains(where: { $0 == " " || $0.isNewline })
        }
        let lines = [identity.name, String(format: "%.6f", now), identity.user.name, identity.authorizedKeyLine,
                     identity.hostPublicKeyLine, machineID, identity.kept ? "kept" : "transient", Self.randomHex(bytes: 32),
                     String(credentials.count)]
            + credentials.map { "\($0.name) \($0.value.base64EncodedString())" }
        return Data((lines.joined(separator: "\n") + "\n" + identity.hostPrivateKey).utf8)
    }

    static func randomHex(bytes: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<bytes).map { _ in String(format: "%02x", generator.next() as UInt8) }.joined()
    }

    private static func check(_ result: (status: Int32, output: String)) throws {
        guard result.status == 0 else {
            throw CloneIdentityError(reason: "the guest did not take its own identity (exit \(result.status)): \(result.output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
