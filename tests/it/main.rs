//! Integration tests, in one binary so the heavy dependencies are linked once.

mod bundled_datasets;
mod checkpoint_fixture;
mod cli;
mod commands;
mod common;
mod data_validation;
mod eval_baselines;
#[cfg(feature = "experiments")]
mod experiments;
mod faults;
mod fuzz;
mod import_csv;
#[cfg(feature = "import")]
mod import_hdf5;
#[cfg(feature = "import")]
mod import_lerobot;
mod kinematics;
mod malformed;
mod model;
mod protocol;
mod robustness;
mod rollout;
mod synthetic;
mod training;
#[cfg(feature = "rerun")]
mod viz;
mod windows_split;

use std::alloc::{GlobalAlloc, Layout, System};

/// No test may ask for more than 1 GiB at once. A damaged input that makes the library try
/// (a checkpoint header claiming huge weights) then fails the test binary with "memory
/// allocation failed", as it would on a smaller machine, instead of being overcommitted here
/// or swapping the machine.
struct Capped;

const CAP: usize = 1 << 30;

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP { std::ptr::null_mut() } else { unsafe { System.alloc(layout) } }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > CAP { std::ptr::null_mut() } else { unsafe { System.alloc_zeroed(layout) } }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > CAP { std::ptr::null_mut() } else { unsafe { System.realloc(ptr, layout, new_size) } }
    }
}

#[global_allocator]
static ALLOCATOR: Capped = Capped;
