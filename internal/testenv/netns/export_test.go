package netns

// SubnetPrefix exposes subnetPrefix to the external tests.
var SubnetPrefix = subnetPrefix
