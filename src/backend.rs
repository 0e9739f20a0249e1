//! Run-time choice of compute backend. Every backend runs the same model code; what differs is
//! which `burn::Device` the tensors live on.

use std::fmt;
use std::str::FromStr;

/// The device tensors live on (burn's), re-exported so that library users need not name burn.
pub use burn::prelude::Device;

use crate::error::{Error, Result};

/// A compute backend, chosen with `--backend` (`flex`/`cpu`, `ndarray`, `wgpu`/`gpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// burn's pure-Rust CPU backend (SIMD, multi-threaded): the default, measured faster than
    /// ndarray here (README, "Backends").
    #[default]
    Flex,
    /// burn's ndarray CPU backend (deprecated upstream, kept for comparison).
    NdArray,
    /// GPU through wgpu: Vulkan, Metal or DX12, whichever the platform offers.
    Wgpu,
}

impl Backend {
    /// Every backend, compiled in or not, in the order messages list them.
    pub const ALL: [Backend; 3] = [Backend::Flex, Backend::NdArray, Backend::Wgpu];

    /// Whether this build includes the backend (cargo features `flex`, `ndarray`, `wgpu`).
    pub fn compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::NdArray => cfg!(feature = "ndarray"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The device for this backend, without autodiff. Fails with a clear message when the
    /// backend is not compiled in or no adapter is available.
    pub fn device(self) -> Result<Device> {
        if !self.compiled() {
            let compiled: Vec<String> = Self::ALL.iter().filter(|b| b.compiled()).map(|b| b.to_string()).collect();
            return Err(Error::Backend(format!(
                "`{self}` is not compiled into this build (enable the cargo feature `{}`); available: {}",
                self.feature(),
                compiled.join(", ")
            )));
        }
        match self {
            #[cfg(feature = "flex")]
            Backend::Flex => Ok(Device::flex()),
            #[cfg(feature = "ndarray")]
            #[allow(deprecated)]
            // deprecated upstream in favour of flex; kept selectable on purpose
            Backend::NdArray => Ok(Device::ndarray()),
            #[cfg(feature = "wgpu")]
            Backend::Wgpu => wgpu_device(),
            #[allow(unreachable_patterns)]
            _ => unreachable!("checked by compiled()"),
        }
    }

    /// A CPU device of this build (flex, else ndarray), e.g. to read weights onto the host.
    pub fn default_cpu_device() -> Result<Device> {
        if Backend::Flex.compiled() { Backend::Flex.device() } else { Backend::NdArray.device() }
    }

    fn feature(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::NdArray => "ndarray",
            Backend::Wgpu => "wgpu",
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device> {
    // Fallible initialisation, so a machine without a usable adapter gets an error, not a panic.
    // The runtime can be initialised once per process, hence the cache.
    // Pick the adapter with CUBECL_WGPU_DEFAULT_DEVICE (e.g. `DiscreteGpu(1)`).
    static DEVICE: std::sync::OnceLock<std::result::Result<Device, String>> = std::sync::OnceLock::new();
    DEVICE
        .get_or_init(|| {
            Device::wgpu_options()
                .device_kind(burn::tensor::DeviceKind::DefaultDevice)
                .init()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::Backend(format!("no usable wgpu adapter: {e}")))
}

impl FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(Backend::Flex),
            "ndarray" => Ok(Backend::NdArray),
            "wgpu" | "gpu" => Ok(Backend::Wgpu),
            other => Err(Error::Backend(format!("unknown backend \"{other}\": expected flex, ndarray or wgpu"))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.feature())
    }
}
