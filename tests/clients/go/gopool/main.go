// gopool drives a libvirt-protocol server through go-libvirt (the pure-Go client under
// terraform-provider-libvirt): define, build and start a dir pool; create, inspect, list and delete a
// volume; tear the pool down. It prints one line per step, so the same run against libvirtd and
// against virtpoold can be compared line by line.
//
// Usage: gopool unix|tcp ADDRESS POOL_DIR
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	libvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

const poolUUID = "6f1a3c1e-8a59-4a43-a2a6-0c5d5b0d7a11"

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: gopool unix|tcp ADDRESS POOL_DIR")
		os.Exit(2)
	}

	network, address, dir := os.Args[1], os.Args[2], os.Args[3]
	conn, err := net.DialTimeout(network, address, 5*time.Second)
	check("dial", err)
	l := libvirt.NewWithDialer(dialers.NewAlreadyConnected(conn))
	check("connect", l.ConnectToURI(libvirt.QEMUSystem))

	xml := fmt.Sprintf("<pool type='dir'><name>gopool</name><uuid>%s</uuid><target><path>%s</path></target></pool>", poolUUID, dir)
	pool, err := l.StoragePoolDefineXML(xml, 0)
	check("define", err)
	fmt.Printf("define name=%s uuid=%x\n", pool.Name, pool.UUID)
	check("build", l.StoragePoolBuild(pool, 0))
	fmt.Println("build ok")
	check("start", l.StoragePoolCreate(pool, 0))
	fmt.Println("start ok")
	state, capacity, _, available, err := l.StoragePoolGetInfo(pool)
	check("pool info", err)
	fmt.Printf("pool info state=%d capacity>0=%t available<=capacity=%t\n", state, capacity > 0, available <= capacity)

	vol, err := l.StorageVolCreateXML(pool, "<volume><name>disk1.qcow2</name><capacity unit='M'>64</capacity><target><format type='qcow2'/></target></volume>", 0)
	check("vol create", err)
	fmt.Printf("vol create pool=%s name=%s key=%s\n", vol.Pool, vol.Name, strings.Replace(vol.Key, dir, "DIR", 1))
	vtype, vcap, valloc, err := l.StorageVolGetInfo(vol)
	check("vol info", err)
	fmt.Printf("vol info type=%d capacity=%d allocation=%d\n", vtype, vcap, valloc)
	vxml, err := l.StorageVolGetXMLDesc(vol, 0)
	check("vol xml", err)
	fmt.Printf("vol xml has-qcow2=%t has-path=%t\n", strings.Contains(vxml, "<format type='qcow2'/>"), strings.Contains(vxml, dir+"/disk1.qcow2"))
	vols, _, err := l.StoragePoolListAllVolumes(pool, 1, 0)
	check("vol list", err)
	for _, v := range vols {
		fmt.Printf("vol list %s\n", v.Name)
	}

	_, err = l.StorageVolLookupByName(pool, "nosuch")
	fmt.Printf("vol lookup missing: %v\n", err)
	check("vol delete", l.StorageVolDelete(vol, 0))
	fmt.Println("vol delete ok")
	check("destroy", l.StoragePoolDestroy(pool))
	fmt.Println("destroy ok")
	check("delete", l.StoragePoolDelete(pool, 0))
	fmt.Println("delete ok")
	check("undefine", l.StoragePoolUndefine(pool))
	fmt.Println("undefine ok")
	check("disconnect", l.Disconnect())
	fmt.Println("disconnect ok")
}

func check(step string, err error) {
	if err != nil {
		fmt.Printf("%s failed: %v\n", step, err)
		os.Exit(1)
	}
}
