//! Values shared by the BFD unit tests.

use super::packet::{ControlPacket, Diag, State};

/// An Up packet with 50 ms intervals, Detect Mult 3, discriminators 0x01020304 → 0x0a0b0c0d.
pub fn up_packet() -> ControlPacket {
    ControlPacket {
        version: 1,
        diag: Diag::None,
        state: State::Up,
        poll: false,
        final_: false,
        cpi: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discriminator: 0x0102_0304,
        your_discriminator: 0x0a0b_0c0d,
        desired_min_tx: 50_000,
        required_min_rx: 50_000,
        required_min_echo_rx: 0,
        auth: None,
    }
}
