pub mod choker;
pub mod piece_picker;
